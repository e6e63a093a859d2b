"""The sign-in form (its lockout message; the lockout itself is ``core.login``)."""

from django.contrib.auth.forms import AuthenticationForm


class LockoutAuthenticationForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": (
            "Too many failed sign-ins for this username from your address. Try again after "
            "%(until)s UTC (in about %(minutes)d minutes)."
        ),
    }
