"""Smoke: the production path exactly as documented (``make smoke``; docs/deployment.md).

A fresh venv gets ``requirements.lock`` (the hash-pinned closure of ``requirements.txt``, nothing
from the dev requirements). Its gunicorn, Celery worker and Celery beat run the *default* settings
of ``wsgi.py`` / ``celery.py`` (production) against the local PostgreSQL (a database of their own,
created and dropped here) and Redis (a db number of their own, flushed before and after). A
champion is trained on a small synthetic history, a batch with a card-testing burst goes over real
HTTP, and the test waits until every row is scored and the burst has opened a case.

Everything started here is stopped at the end, pass or fail. Environment (all optional):
``SMOKE_POSTGRES_URL`` (server, default ``postgres://postgres@127.0.0.1:5432``),
``SMOKE_DATABASE`` (``fc_smoke``), ``SMOKE_REDIS_URL`` (``redis://127.0.0.1:6379/13``),
``SMOKE_REQUIREMENTS`` (``requirements.lock``; ``requirements.txt`` also works).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.smoke

ROOT = Path(__file__).resolve().parents[2]
POSTGRES_URL = os.environ.get("SMOKE_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("SMOKE_DATABASE", "fc_smoke")
REDIS_URL = os.environ.get("SMOKE_REDIS_URL", "redis://127.0.0.1:6379/13")
REQUIREMENTS = (
    os.environ.get(
        "SMOKE_REQUIREMENTS", "requirements.lock" if (ROOT / "requirements.lock").exists() else ""
    )
    or "requirements.txt"
)
HISTORY_ACCOUNTS = 300  # small synthetic history: a champion in well under a minute
HISTORY_DAYS = 30
FEED_SEED = 7


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to check, not to follow."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


OPENER = urllib.request.build_opener(_NoRedirects)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_flush(url: str) -> None:
    """FLUSHDB on the smoke's own db number only (never the server's other dbs)."""
    import redis

    redis.Redis.from_url(url).flushdb()


def postgres(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@dataclass
class Stack:
    """The runtime-only install and the processes started from it."""

    root: Path
    venv: Path
    env: dict[str, str]
    base_url: str = ""
    api_key: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def manage(self, *args: str, timeout: float = 600) -> str:
        """``manage.py`` of the runtime venv with the production settings named explicitly."""
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "fraudcases.settings.production"}
        result = subprocess.run(
            [self.bin("python"), "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert result.returncode == 0, (
            f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        return result.stdout

    def start(self, name: str, *command: str) -> None:
        """Start a server process in its own session (the stack stops the whole group)."""
        log = self.root / f"{name}.log"
        self.logs[name] = log
        with log.open("wb") as out:
            self.processes[name] = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=self.env,  # no DJANGO_SETTINGS_MODULE: wsgi.py / celery.py pick production
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> None:
        for name, process in self.processes.items():
            code = process.poll()
            assert code is None, f"{name} exited ({code}):\n{self.tail(name)}"

    def tail(self, name: str, size: int = 4000) -> str:
        path = self.logs.get(name)
        return path.read_text(errors="replace")[-size:] if path and path.exists() else ""

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)

    def http(self, method: str, path: str, body: object | None = None, *, key: bool = True):
        """(status, headers, body bytes) over real HTTP, as behind a TLS-terminating proxy."""
        headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key:
            headers["Authorization"] = f"Api-Key {self.api_key}"
        request = urllib.request.Request(self.base_url + path, data, headers, method=method)
        try:
            with OPENER.open(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    venv = root / "venv"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", str(root)),
        "LANG": "C.UTF-8",
        "FRAUDCASES_VAR_DIR": str(root / "var"),
        "SECRET_KEY": secrets.token_urlsafe(64),
        "AUDIT_HMAC_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"{POSTGRES_URL}/{DATABASE}",
        "CELERY_BROKER_URL": REDIS_URL,
        "CACHE_URL": REDIS_URL,
        "CELERY_QUEUE": f"fraudcases-smoke-{os.getpid()}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "INFO",
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "PIP_FIND_LINKS", "PIP_CERT"):
        if name in os.environ:
            env[name] = os.environ[name]
    smoke = Stack(root=root, venv=venv, env=env)
    postgres(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    postgres(f'CREATE DATABASE "{DATABASE}"')
    redis_flush(REDIS_URL)
    try:
        yield smoke
    finally:
        smoke.stop()
        for name in smoke.processes:
            print(f"--- {name} log (tail) ---\n{smoke.tail(name, 1500)}")
        redis_flush(REDIS_URL)
        postgres(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


@pytest.fixture(scope="module")
def installed(stack):
    """A fresh venv with the runtime requirements only."""
    subprocess.run([sys.executable, "-m", "venv", str(stack.venv)], check=True, timeout=120)
    hashes = ["--require-hashes"] if REQUIREMENTS.endswith(".lock") else []
    result = subprocess.run(
        [stack.bin("pip"), "install", "--quiet", *hashes, "-r", REQUIREMENTS],
        cwd=ROOT,
        env={**stack.env, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, f"pip install -r {REQUIREMENTS}:\n{result.stderr[-4000:]}"
    return stack


@pytest.fixture(scope="module")
def deployed(installed):
    stack = installed
    stack.manage("migrate", "--noinput")
    stack.manage("collectstatic", "--noinput", "--verbosity", "0")
    stack.api_key = stack.manage("create_api_key", "smoke-client").strip().splitlines()[-1]
    stack.manage(
        "generate_transactions",
        "--accounts",
        str(HISTORY_ACCOUNTS),
        "--days",
        str(HISTORY_DAYS),
        "--seed",
        str(FEED_SEED),
    )
    stack.manage("train_model", "--promote")
    port = free_port()
    stack.base_url = f"http://127.0.0.1:{port}"
    stack.start(
        "web",
        stack.bin("gunicorn"),
        "fraudcases.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--threads",
        "2",
        "--timeout",
        "60",
    )
    stack.start(
        "worker",
        stack.bin("celery"),
        "-A",
        "fraudcases",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--hostname",
        f"smoke-{os.getpid()}@%h",
    )
    stack.start(
        "beat",
        stack.bin("celery"),
        "-A",
        "fraudcases",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(stack.root / "var" / "celerybeat-schedule"),
    )
    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        stack.alive()
        try:
            status, _, _ = stack.http("GET", "/healthz", key=False)
        except (urllib.error.URLError, ConnectionError):
            status = None
        if status == 200:
            break
        time.sleep(1)
    assert status == 200, (
        f"/healthz never answered 200 (last {status}):\n{stack.tail('web')}\n{stack.tail('worker')}"
    )
    return stack


def test_install_is_runtime_only(installed):
    """The venv has what production needs (packaging for kombu's Redis transport) and none of
    the dev tools; pip finds the installed set consistent."""
    python = installed.bin("python")
    check = subprocess.run([installed.bin("pip"), "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    probe = (
        "import importlib.util as u, kombu.transport.redis, gunicorn, celery, psycopg; "
        "print([m for m in ('pytest', 'ruff', 'playwright', 'factory') if u.find_spec(m)])"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_deploy_check_is_clean(installed):
    installed.manage("check", "--deploy", "--fail-level", "WARNING")


def test_healthz_is_ok(deployed):
    status, _, body = deployed.http("GET", "/healthz", key=False)
    assert status == 200, body


def test_batch_is_scored_and_the_burst_opens_a_case(deployed):
    code = (
        "import json, sys; from datetime import datetime, UTC; "
        "from scoring.engine.synthetic import LiveFeed; "
        f"feed = LiveFeed(n_accounts={HISTORY_ACCOUNTS}, seed={FEED_SEED}); "
        "now = datetime.now(UTC); "
        "normal = feed.normal(now=now, count=20); "
        "burst = feed.fraud_burst(now=now, pattern='card_testing'); "
        "print(json.dumps({'normal': normal, 'burst': burst}, default=str))"
    )
    made = subprocess.run(
        [deployed.bin("python"), "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert made.returncode == 0, made.stderr
    generated = json.loads(made.stdout)
    items = generated["normal"] + generated["burst"]
    burst_ids = {item["external_id"] for item in generated["burst"]}
    assert len(burst_ids) >= 3

    status, _, body = deployed.http("POST", "/api/v1/transactions", {"transactions": items})
    assert status == 202, body
    assert json.loads(body) == {"accepted": len(items), "duplicates": 0}

    deadline = time.monotonic() + 180
    results: dict[str, dict] = {}
    while time.monotonic() < deadline:
        deployed.alive()
        for item in items:
            external_id = item["external_id"]
            if results.get(external_id, {}).get("status") in ("scored", "failed"):
                continue
            status, _, body = deployed.http("GET", f"/api/v1/transactions/{external_id}")
            assert status == 200, body
            results[external_id] = json.loads(body)
        if all(r.get("status") in ("scored", "failed") for r in results.values()):
            break
        time.sleep(1)
    statuses = {r["status"] for r in results.values()}
    assert statuses == {"scored"}, (statuses, deployed.tail("worker"))
    case_ids = {results[i]["case_id"] for i in burst_ids} - {None}
    assert case_ids, (
        "the card-testing burst opened no case: "
        + json.dumps([results[i] for i in sorted(burst_ids)], default=str)[:3000]
    )


def test_pages_run_with_debug_off(deployed):
    status, headers, _ = deployed.http("GET", "/cases/", key=False)
    assert status == 302 and headers["Location"].startswith("/accounts/login/")
    status, headers, body = deployed.http("GET", "/accounts/login/", key=False)
    assert status == 200 and "Content-Security-Policy" in headers
    assert headers.get("Strict-Transport-Security", "").startswith("max-age=")
    status, _, body = deployed.http("GET", "/no-such-page/", key=False)
    assert status == 404 and b"<h1>Not found</h1>" in body and b"Traceback" not in body
    status, _, body = deployed.http("GET", "/static/fraudcases/app.css", key=False)
    assert status == 200 and body.startswith(b":root")


def test_processes_stayed_up(deployed):
    """Web, worker and beat are still running after the batch (the fixture stops them)."""
    deployed.alive()
    assert "ready." in deployed.tail("worker", 100_000)
    assert "beat: Starting..." in deployed.tail("beat", 100_000)
