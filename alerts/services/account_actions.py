"""Account actions to core banking: what routing and delivery do for ``account_action.*`` events.

An approved account action (``fraudcases.services.account_actions``) is an instruction, not an
alert: dispatch sends it to every active channel subscribed to ``account_action.approved``
without a routing rule, throttle or quiet hours, and the outcome of its **signed-webhook**
deliveries flows back to the action (email and Slack copies only inform people):

- a webhook delivery answered 2xx → the action is ``delivered``;
- every webhook delivery dead, or no webhook channel subscribed → the action is ``failed``
  with the reason (a resend that succeeds later still makes it ``delivered``).

Core banking then reports the result itself (``POST /api/v1/account-actions/<id>/result``).
Called inside the dispatch and delivery transactions, so an action's state and its deliveries
commit together.
"""

from __future__ import annotations

from core.models import AuditEvent
from fraudcases.services.account_actions import (
    account_action_delivered,
    account_action_delivery_failed,
)

from ..models import ACCOUNT_ACTION_EVENTS, Channel, Delivery

SYSTEM_ALERTS = "system:alerts"  # the actor of delivery outcomes, as in ``.delivery``
WEBHOOK = Channel.Kind.WEBHOOK


def _action_id(event_id: int) -> int | None:
    object_id = (
        AuditEvent.objects.filter(pk=event_id, object_type="fraudcases.accountaction")
        .values_list("object_id", flat=True)
        .first()
    )
    return int(object_id) if object_id and object_id.isdigit() else None


def account_action_routed(*, event: AuditEvent, deliveries: list[Delivery]) -> None:
    """After routing an approved action: without a signed-webhook delivery nothing can reach
    core banking, so the action fails now, saying why, instead of waiting forever."""
    if any(d.channel.kind == WEBHOOK for d in deliveries):
        return
    action_id = _action_id(event.pk)
    if action_id is not None:
        account_action_delivery_failed(
            action_id=action_id,
            reason="No active signed-webhook channel subscribes to account_action.approved: "
            "nothing was sent to core banking.",
            actor_label=SYSTEM_ALERTS,
        )


def account_action_delivery_outcome(*, delivery: Delivery, channel: Channel) -> None:
    """A delivery of an account action ended (sent or dead): tell the action, for webhooks."""
    if delivery.event_type not in ACCOUNT_ACTION_EVENTS or channel.kind != WEBHOOK:
        return
    action_id = _action_id(delivery.event_id) if delivery.event_id else None
    if action_id is None:
        return
    if delivery.status == Delivery.Status.SENT:
        account_action_delivered(
            action_id=action_id,
            delivery_ref=str(delivery.delivery_id),
            channel=channel.name,
            actor_label=SYSTEM_ALERTS,
        )
        return
    if delivery.status != Delivery.Status.DEAD:
        return
    # Another webhook channel may still get it through (or already has).
    alive = (
        Delivery.objects.filter(event_id=delivery.event_id, channel__kind=WEBHOOK)
        .exclude(pk=delivery.pk)
        .exclude(status=Delivery.Status.DEAD)
        .exists()
    )
    if not alive:
        account_action_delivery_failed(
            action_id=action_id,
            reason=f"Delivery to channel {channel.name} gave up: {delivery.last_error}",
            actor_label=SYSTEM_ALERTS,
        )
