"""Imports every feature's tables so metadata (and Alembic) sees them all."""

from service import (
    jobs,  # noqa: F401
    notifications,  # noqa: F401
)
from service.access import models as access_models  # noqa: F401
from service.audit import models as audit_models  # noqa: F401
from service.cases import models as case_models  # noqa: F401
from service.definitions import models as definition_models  # noqa: F401
from service.vault import changes, consents, grants  # noqa: F401
from service.vault import models as vault_models  # noqa: F401
