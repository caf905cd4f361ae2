"""Customer notifications: deliver what is due through the SMS gateway (beat job)."""

from __future__ import annotations

from service.notifications.delivery import channel_for, deliver_due, expire_stale
from workers.celery_app import app, worker_deps


@app.task(name="datasteward.notifications.deliver")
def deliver() -> dict[str, int]:
    deps = worker_deps()
    channel = channel_for(deps.settings)
    if channel is None:
        # No gateway configured: notifications wait (checkconfig says so), but none is
        # kept past the retention.
        return {"sent": 0, "expired": expire_stale(deps, deps.now())}
    delivered = deliver_due(deps, channel)
    return {
        "sent": delivered.sent,
        "failed": delivered.failed,
        "retrying": delivered.retrying,
        "expired": delivered.expired,
    }
