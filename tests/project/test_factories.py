"""Every model of our apps has a factory, and each factory makes a row that passes validation."""

from __future__ import annotations

import pytest
from django.apps import apps

from tests.factories import FACTORIES

OUR_APPS = ("core", "fraudcases", "scoring", "alerts")


def _our_models():
    return [
        model
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if not model._meta.abstract and not model._meta.proxy
    ]


def test_every_model_has_a_factory():
    missing = sorted(m._meta.label for m in _our_models() if m not in FACTORIES)
    assert not missing, f"tests/factories.py has no factory for: {missing}"


@pytest.mark.django_db
@pytest.mark.parametrize("model", _our_models(), ids=lambda m: m._meta.label)
def test_the_factory_makes_a_valid_row(model, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    obj = FACTORIES[model]()
    assert obj.pk is not None
    fresh = model._default_manager.get(pk=obj.pk)
    fresh.full_clean(validate_unique=False)
