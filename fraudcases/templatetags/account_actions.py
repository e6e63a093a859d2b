"""``{% account_actions_panel case as panel %}``: what the account-action partial
(``templates/cases/_account_actions.html``) shows the signed-in user, so the partial can be
included in any page that has ``case`` and ``request`` in its context."""

from __future__ import annotations

from typing import Any

from django import template

from fraudcases.account_actions.forms import AccountActionRequestForm
from fraudcases.account_actions.selectors import account_action_panel

register = template.Library()


@register.simple_tag(takes_context=True)
def account_actions_panel(context, case) -> dict[str, Any]:
    """The panel's rows and request options; a refused request's bound form and message come
    from the view as ``account_action_form`` / ``account_action_error``."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    panel = account_action_panel(user=user, case=case)
    panel["form"] = context.get("account_action_form") or AccountActionRequestForm()
    panel["error"] = context.get("account_action_error", "")
    return panel
