"""JSON API under /api/v1: one module per feature, each with `blueprint` and `OPENAPI_PATHS`."""

API_MODULES = [
    "service.api.routes",
    "service.api.audit",
    "service.api.definitions",
    "service.api.vault",
    "service.api.holds",
    "service.api.access",
    "service.api.requests",
    "service.api.oidc",
]
