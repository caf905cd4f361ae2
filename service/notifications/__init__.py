"""Customer notifications: what a procedure tells the customer, sealed, queued and delivered.

`outbox` queues them in the case's transaction (the destination sealed under a
key of its own), `delivery` sends them through the SMS gateway and erases them.
"""

from service.notifications.models import TEMPLATES, Notification
from service.notifications.outbox import (
    hold_for_deletion,
    notify_customer,
    notify_previous_number,
)

__all__ = [
    "TEMPLATES",
    "Notification",
    "hold_for_deletion",
    "notify_customer",
    "notify_previous_number",
]
