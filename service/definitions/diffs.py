"""What changed between two versions: diagram elements (engine diff) and forms."""

from __future__ import annotations

from typing import Any

from service.access.service import Actor
from service.audit.service import records_refusals
from service.definitions.models import ProcedureVersion
from service.definitions.service import published_version
from service.definitions.versions import READ_ROLES, get_version, need_role
from service.deps import Deps
from service.engine import DiagramError
from service.engine.diff import diff_diagrams
from service.errors import Invalid


@records_refusals
def diff_versions(
    deps: Deps, actor: Actor, version_id: int, against: int | None = None
) -> dict[str, Any]:
    """The semantic diff from `against` (default: the published version) to `version_id`."""
    need_role(actor, READ_ROLES, "version.diff")
    with deps.unit_of_work() as uow:
        target = get_version(uow.session, version_id)
        if against is None:
            base = published_version(uow.session, target.procedure)
        else:
            base = get_version(uow.session, against)
        if base.procedure != target.procedure:
            raise Invalid.field("against", "both versions must belong to the same procedure")
        return version_diff(base, target)


def version_diff(base: ProcedureVersion, target: ProcedureVersion) -> dict[str, Any]:
    try:
        elements = diff_diagrams(base.bpmn.encode("utf-8"), target.bpmn.encode("utf-8"))
    except DiagramError as err:
        raise Invalid(
            "a diagram cannot be read, so it cannot be compared",
            details=[p.as_dict() for p in err.problems],
        ) from None
    return {
        "base": {"id": base.id, "number": base.number},
        "target": {"id": target.id, "number": target.number},
        "elements": elements,
        "forms": diff_forms(base.forms, target.forms),
    }


def diff_forms(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Forms added, removed and changed, with the fields of each changed form."""
    changed = []
    for name in sorted(before.keys() & after.keys()):
        if before[name] != after[name]:
            changed.append({"form": name} | _field_changes(before[name], after[name]))
    return {
        "added": sorted(after.keys() - before.keys()),
        "removed": sorted(before.keys() - after.keys()),
        "changed": changed,
    }


def _field_changes(old: Any, new: Any) -> dict[str, Any]:
    old_fields, new_fields = _fields(old), _fields(new)
    old_required, new_required = _required(old), _required(new)
    changed = [
        name
        for name in sorted(old_fields.keys() & new_fields.keys())
        if old_fields[name] != new_fields[name] or (name in old_required) != (name in new_required)
    ]
    return {
        "fields_added": sorted(new_fields.keys() - old_fields.keys()),
        "fields_removed": sorted(old_fields.keys() - new_fields.keys()),
        "fields_changed": changed,
    }


def _fields(schema: Any) -> dict[str, Any]:
    props = schema.get("properties") if isinstance(schema, dict) else None
    return props if isinstance(props, dict) else {}


def _required(schema: Any) -> set[str]:
    required = schema.get("required") if isinstance(schema, dict) else None
    return {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
