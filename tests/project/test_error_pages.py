"""With DEBUG off (demo and production) errors are the styled pages, and static files are served."""

from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db


@pytest.mark.skipif("DEBUG" in os.environ, reason="DEBUG chosen in the environment")
def test_debug_is_off_in_test_and_demo_settings():
    from fraudcases.settings import local

    assert settings.DEBUG is False and local.DEBUG is False


def test_404_is_the_styled_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "<h1>Not found</h1>" in body and "fraudcases/app.css" in body
    assert "Content-Security-Policy" in response.headers


def test_403_is_the_styled_page(make_user):
    client = Client()
    client.force_login(make_user("investigator", "inv403"))
    response = client.get("/audit/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "<h1>Not allowed</h1>" in body and "fraudcases/app.css" in body


def test_500_is_the_standalone_styled_page():
    response = server_error(RequestFactory().get("/boom/"))
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong" in body and "fraudcases/app.css" in body


def test_static_files_are_served_with_debug_off(settings):
    # As the demo's local settings do (make demo also runs collectstatic for production's way).
    settings.WHITENOISE_USE_FINDERS = True
    response = Client().get("/static/fraudcases/app.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b":root")
