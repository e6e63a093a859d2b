"""Sign-in with lockout: repeated failures for one username from one address, or from one
address across usernames, refuse further attempts for a while (429 with Retry-After)."""

from __future__ import annotations

import math
from datetime import UTC

from django.contrib.auth import views as auth_views
from django.utils import timezone

from . import login as services
from .forms import LockoutAuthenticationForm
from .middleware import client_ip

ADDRESS_LOCKED_MESSAGE = (
    "Too many failed sign-ins from your address. Try again after %(until)s UTC "
    "(in about %(minutes)d minutes)."
)


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username") or ""
        ip = client_ip(request)
        block = services.login_block_find(username=username, ip_address=ip)
        if block is not None:
            return self._locked(request, block)
        form = self.get_form()
        if form.is_valid():
            services.login_success_record(user=form.get_user(), ip_address=ip)
            return self.form_valid(form)
        block = services.login_failure_record(username=username, ip_address=ip)
        if block is not None:
            return self._locked(request, block)
        return self.form_invalid(form)

    def _locked(self, request, block: services.LoginBlock):
        form = self.get_form_class()(request, initial={"username": request.POST.get("username")})
        seconds = max(1, math.ceil((block.until - timezone.now()).total_seconds()))
        template = (
            form.error_messages["locked"] if block.scope == "username" else ADDRESS_LOCKED_MESSAGE
        )
        message = template % {
            "until": block.until.astimezone(UTC).strftime("%H:%M"),
            "minutes": max(1, math.ceil(seconds / 60)),
        }
        context = self.get_context_data(form=form, lockout_message=message)
        response = self.render_to_response(context, status=429)
        response["Retry-After"] = str(seconds)
        return response
