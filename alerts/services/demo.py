"""The demo's channels (``seed_demo``): email (console backend), a signed webhook and Slack, both
to the local ``manage.py alerts_receiver --port 8025``, and one rule for high and critical."""

from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from ..models import AlertRule, Channel
from .channels import channel_create
from .rules import alert_rule_create

User = AbstractBaseUser

DEMO_RECEIVER = "http://127.0.0.1:8025"
DEMO_RULE = "demo: high and critical"


@transaction.atomic
def alerts_demo_setup(*, actor: User) -> list[str]:
    """Create what is missing (idempotent, through the audited services); returns what was
    created, for the command's output."""
    wanted = [
        {"name": "demo-email", "kind": "email", "target": "fraud-team@example.test"},
        {
            "name": "demo-webhook",
            "kind": "webhook",
            "target": f"{DEMO_RECEIVER}/webhook",
            "secret": secrets.token_urlsafe(32),
        },
        {
            "name": "demo-slack",
            "kind": "slack",
            "target": "#fraud-demo",
            "secret": f"{DEMO_RECEIVER}/slack",
        },
    ]
    created = []
    channels = []
    for spec in wanted:
        channel = Channel.objects.filter(name=spec["name"]).first()
        if channel is None:
            channel = channel_create(actor=actor, **spec)
            created.append(f"alert channel {channel.name}")
        channels.append(channel)
    if not AlertRule.objects.filter(name=DEMO_RULE).exists():
        alert_rule_create(
            actor=actor,
            name=DEMO_RULE,
            channels=channels,
            min_risk_level="high",
            description="The demo: every high or critical case to email, webhook and Slack.",
        )
        created.append(f"routing rule '{DEMO_RULE}'")
    return created
