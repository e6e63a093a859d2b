"""Sign-in with lockout: repeated failures for one username from one address lock it a while."""

from __future__ import annotations

import math
from datetime import UTC

from django.contrib.auth import views as auth_views
from django.utils import timezone

from .. import services
from ..forms import LockoutAuthenticationForm
from ..middleware import client_ip


class LoginView(auth_views.LoginView):
    form_class = LockoutAuthenticationForm
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()
        ip = client_ip(request)
        until = services.login_locked_until(username=username, ip_address=ip) if username else None
        if until is not None:
            return self._locked(request, until)
        form = self.get_form()
        if form.is_valid():
            services.login_success_record(user=form.get_user(), ip_address=ip)
            return self.form_valid(form)
        if username:
            until = services.login_failure_record(username=username, ip_address=ip)
            if until is not None:
                return self._locked(request, until)
        return self.form_invalid(form)

    def _locked(self, request, until):
        form = self.get_form_class()(request, initial={"username": request.POST.get("username")})
        minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
        message = form.error_messages["locked"] % {
            "until": until.astimezone(UTC).strftime("%H:%M"),
            "minutes": minutes,
        }
        context = self.get_context_data(form=form, lockout_message=message)
        return self.render_to_response(context, status=429)
