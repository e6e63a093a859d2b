"""Production settings refuse to start without their environment; files under var/ are private."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from core.runtime import runtime_dirs_prepare, sqlite_files_private

ROOT = Path(__file__).resolve().parents[2]
GOOD = {
    "SECRET_KEY": secrets.token_urlsafe(64),
    "DATABASE_URL": "postgres://fraud:pw@db.internal:5432/fraudcases",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "ALLOWED_HOSTS": "fraud.example.com",
    "AUDIT_HMAC_KEY": secrets.token_hex(32),
}


def load_production(tmp_path: Path, **overrides: str | None) -> subprocess.CompletedProcess:
    """Import the production settings in a fresh interpreter with exactly this environment."""
    env = {"PATH": os.environ.get("PATH", ""), "FRAUDCASES_VAR_DIR": str(tmp_path / "var")}
    env.update(GOOD)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    code = (
        "import fraudcases.settings.production as p; "
        "print('DEBUG', p.DEBUG, 'HOSTS', p.ALLOWED_HOSTS, 'DB', p.DATABASES['default']['ENGINE'])"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_complete_environment_starts(tmp_path):
    result = load_production(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False HOSTS ['fraud.example.com'] DB django.db.backends.postgresql" in (
        result.stdout
    )
    # Importing settings makes no directories.
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"SECRET_KEY": None}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "   "}, "SECRET_KEY is not set"),
        ({"SECRET_KEY": "insecure-local-only-key-change-me"}, "repository's local-only key"),
        ({"SECRET_KEY": "x" * 49}, "SECRET_KEY has 49 characters; at least 50"),
        ({"DATABASE_URL": None}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "sqlite:////tmp/x.sqlite3"}, "must name a PostgreSQL database"),
        ({"CELERY_BROKER_URL": None}, "CELERY_BROKER_URL is not set"),
        ({"CELERY_BROKER_URL": "filesystem://"}, "must name a Redis or RabbitMQ broker"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS is not set"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is not set"),
        ({"ALLOWED_HOSTS": "*"}, "not '*'"),
        ({"AUDIT_HMAC_KEY": None}, "AUDIT_HMAC_KEY is not set"),
        ({"AUDIT_HMAC_KEY": "short"}, "AUDIT_HMAC_KEY has 5 characters"),
        ({"AUDIT_HMAC_KEY": GOOD["SECRET_KEY"]}, "must differ from SECRET_KEY"),
    ],
)
def test_refuses_to_start(tmp_path, overrides, message):
    result = load_production(tmp_path, **overrides)
    assert result.returncode != 0
    assert "ImproperlyConfigured: Production settings refuse to start" in result.stderr
    assert message in result.stderr


def test_every_problem_is_named_at_once(tmp_path):
    result = load_production(
        tmp_path,
        SECRET_KEY=None,
        DATABASE_URL=None,
        CELERY_BROKER_URL=None,
        ALLOWED_HOSTS=None,
        AUDIT_HMAC_KEY=None,
    )
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "ALLOWED_HOSTS",
        "AUDIT_HMAC_KEY",
    ):
        assert f"{name} is not set" in result.stderr


@pytest.mark.parametrize(
    "code",
    [
        "import fraudcases.wsgi",
        "from fraudcases.celery import app; print(app.conf.broker_url)",
    ],
)
def test_servers_default_to_production_settings(tmp_path, code):
    """gunicorn / celery started with no DJANGO_SETTINGS_MODULE get production, which refuses."""
    env = {"PATH": os.environ.get("PATH", ""), "FRAUDCASES_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "Production settings refuse to start" in result.stderr


def test_demo_selects_its_settings_explicitly():
    procfile = (ROOT / "Procfile").read_text()
    for process in ("web", "worker", "beat"):
        line = next(x for x in procfile.splitlines() if x.startswith(f"{process}:"))
        assert "DJANGO_SETTINGS_MODULE=" in line, process


def test_runtime_dirs_are_private(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    settings.STATIC_ROOT = tmp_path / "var" / "static"
    settings.MODEL_STORE_DIR = tmp_path / "var" / "models"
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "var" / "broker" / "queue"),
        "processed_folder": str(tmp_path / "var" / "broker" / "processed"),
        "control_folder": str(tmp_path / "var" / "broker" / "control"),
    }
    runtime_dirs_prepare()
    for sub in ("", "static", "models", "broker/queue", "broker/processed", "broker/control"):
        mode = stat.S_IMODE((tmp_path / "var" / sub).stat().st_mode)
        assert mode == 0o700, (sub, oct(mode))


def test_uploads_are_private():
    assert settings.FILE_UPLOAD_PERMISSIONS == 0o600
    assert settings.FILE_UPLOAD_DIRECTORY_PERMISSIONS == 0o700


def test_sqlite_files_are_made_private(tmp_path):
    db = tmp_path / "x.sqlite3"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").write_bytes(b"")
        Path(f"{db}{suffix}").chmod(0o644)

    class Connection:
        vendor = "sqlite"
        settings_dict = {"NAME": str(db)}

    sqlite_files_private(connection=Connection())
    for suffix in ("", "-wal", "-shm"):
        assert stat.S_IMODE(Path(f"{db}{suffix}").stat().st_mode) == 0o600


def test_entry_points_set_a_private_umask():
    for module in ("manage.py", "fraudcases/wsgi.py", "fraudcases/celery.py"):
        assert "os.umask(0o077)" in (ROOT / module).read_text(), module
    result = subprocess.run(
        [sys.executable, "-c", "import os, fraudcases.celery; print(oct(os.umask(0)))"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "fraudcases.settings.test"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "0o77", result.stderr
