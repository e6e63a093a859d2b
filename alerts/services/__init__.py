"""Write side of the alerts app, by concern:

- ``channels``: channels (create, change, pause, resume, test message, the default webhook);
- ``rules``: routing rules;
- ``dispatch``: committed case events → deliveries (routing, throttle, quiet hours), the sweep;
- ``delivery``: one attempt at a delivery (claim, send, record, retry, dead, auto-pause), resend.
"""

from .channels import (
    channel_create,
    channel_default_sync,
    channel_pause,
    channel_resume,
    channel_send_test,
    channel_update,
)
from .delivery import deliveries_release_held, delivery_attempt, delivery_resend
from .dispatch import alert_events_dispatch, alerts_sweep
from .rules import alert_rule_create, alert_rule_update

__all__ = [
    "alert_events_dispatch",
    "alert_rule_create",
    "alert_rule_update",
    "alerts_sweep",
    "channel_create",
    "channel_default_sync",
    "channel_pause",
    "channel_resume",
    "channel_send_test",
    "channel_update",
    "deliveries_release_held",
    "delivery_attempt",
    "delivery_resend",
]
