"""The browser UI: the blueprint `web`, serving / and /static (no /api/v1 prefix)."""

from service.web.views import blueprint

__all__ = ["blueprint"]
