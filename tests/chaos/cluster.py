"""A whole throwaway deployment for fault injection: its own PostgreSQL and Redis servers (on
free ports, in a temporary directory), gunicorn, Celery workers and beat with the production
settings, and an HTTP client.

The machine's shared PostgreSQL and Redis are never touched: the faults stop and restart these
private servers only.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
QUEUE = "chaos"
METRICS_TOKEN = "chaos-metrics-token-" + secrets.token_urlsafe(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, *, timeout: float, interval: float = 0.5, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _as_postgres(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the ``postgres`` user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class ThrowawayPostgres:
    """``initdb`` + ``pg_ctl`` into a temporary directory, listening on a free port."""

    def __init__(self, workdir: Path):
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not candidates:
            raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin = Path(candidates[-1]).parent
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "postgres.log"
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            os.chmod(workdir, 0o755)
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/fraudcases"

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-o",
                    options,
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            _as_postgres(
                [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )

    def create_database(self) -> None:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE fraudcases")


class ThrowawayRedis:
    """A ``redis-server`` of our own (no persistence: a restart loses every queued message)."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.dir = workdir / "redis"
        self.dir.mkdir()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=open(self.dir / "redis.log", "a"),  # noqa: SIM115 - lives as long as redis
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, timeout=20, what="redis-server to answer")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.process = None


@dataclass
class Service:
    """One process we started (its own process group, so a kill takes its children too)."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acknowledgement, no cleanup."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if not self.alive():
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]


@dataclass
class Deployment:
    """The throwaway servers plus the fraudcases processes under test."""

    workdir: Path
    postgres: ThrowawayPostgres
    redis: ThrowawayRedis
    web_port: int = field(default_factory=free_port)
    services: list[Service] = field(default_factory=list)
    api_key: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(cls) -> Deployment:
        workdir = Path(tempfile.mkdtemp(prefix="fraudcases-chaos-"))
        deployment = cls(workdir, ThrowawayPostgres(workdir), ThrowawayRedis(workdir))
        deployment.postgres.start()
        deployment.postgres.create_database()
        deployment.redis.start()
        (workdir / "var").mkdir()
        return deployment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PROMETHEUS_", "DJANGO_", "PYTEST", "CELERY_", "DATABASE_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="fraudcases.settings.production",
            SECRET_KEY=self._secret("secret-key"),
            AUDIT_HMAC_KEY=self._secret("audit-key"),
            ALLOWED_HOSTS="127.0.0.1,localhost",
            SECURE_SSL_REDIRECT="false",
            DATABASE_URL=self.postgres.url,
            CELERY_BROKER_URL=self.redis.url,
            CELERY_QUEUE=QUEUE,
            FRAUDCASES_VAR_DIR=str(self.workdir / "var"),
            MODEL_STORE_DIR=str(self.workdir / "var" / "models"),
            METRICS_TOKEN=METRICS_TOKEN,
            LOG_FORMAT="json",
            # Sweep quickly: a row pending for 5 s without a worker on it is re-enqueued by the
            # next beat sweep (every 30 s).
            PENDING_SWEEP_AFTER_SECONDS="5",
            # Connections are re-checked per request and never kept across an outage for long.
            CONN_MAX_AGE="10",
        )
        return env

    def _secret(self, name: str) -> str:
        path = self.workdir / name
        with self._lock:
            if not path.exists():
                path.write_text(secrets.token_urlsafe(64))
        return path.read_text()

    # --- processes --------------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 600) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result.stdout

    def _spawn(self, name: str, cmd: list[str]) -> Service:
        log_path = self.workdir / f"{name}.log"
        process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=open(log_path, "a"),  # noqa: SIM115 - the child keeps it
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        service = Service(name, process, log_path)
        self.services.append(service)
        return service

    def start_web(self) -> Service:
        service = self._spawn(
            "web",
            [
                str(VENV_BIN / "gunicorn"),
                "fraudcases.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.web_port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--timeout",
                "60",
                "--graceful-timeout",
                "5",
            ],
        )
        wait_for(
            lambda: self.get("/healthz")[0] in (200, 503) or not service.alive(),
            timeout=90,
            what="gunicorn to answer",
        )
        assert service.alive(), service.log_tail()
        return service

    def start_worker(self, name: str, concurrency: int = 2) -> Service:
        hostname = f"{name}@localhost"
        service = self._spawn(
            name,
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "fraudcases",
                "worker",
                "-Q",
                QUEUE,
                "--hostname",
                hostname,
                "--concurrency",
                str(concurrency),
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
        )
        wait_for(
            lambda: self.heartbeat_age(hostname) is not None or not service.alive(),
            timeout=120,
            what=f"worker {hostname} heartbeat",
        )
        assert service.alive(), service.log_tail()
        return service

    def start_beat(self) -> Service:
        return self._spawn(
            "beat",
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "fraudcases",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(self.workdir / "celerybeat-schedule"),
            ],
        )

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def destroy(self) -> None:
        """Stop everything; keep the logs in ``workdir``, drop the database files."""
        self.stop_all()
        self.redis.stop()
        self.postgres.stop()
        shutil.rmtree(self.postgres.data, ignore_errors=True)

    # --- HTTP ---------------------------------------------------------------------------------

    def request(self, method: str, path: str, payload=None, headers=None, timeout: float = 30):
        """(status, parsed JSON or text, headers); (0, error text, {}) when no answer at all."""
        data = json.dumps(payload).encode() if payload is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                return response.status, _body(response.read()), dict(response.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, _body(exc.read()), dict(exc.headers)
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
            return 0, f"{type(exc).__name__}: {exc}", {}

    def get(self, path: str, headers=None):
        return self.request("GET", path, headers=headers)

    def post_batch(self, items: list[dict]):
        return self.request(
            "POST",
            "/api/v1/transactions",
            {"transactions": items},
            headers={"Authorization": f"Api-Key {self.api_key}"},
        )

    def metrics(self) -> str:
        status, body, _ = self.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200, (status, body)
        return body

    # --- the database, read directly -------------------------------------------------------------

    def query(self, sql: str, params=()) -> list[tuple]:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{self.postgres.port}/fraudcases", connect_timeout=5
        ) as conn:
            return conn.execute(sql, params).fetchall()

    def heartbeat_age(self, hostname: str) -> float | None:
        try:
            rows = self.query(
                "SELECT EXTRACT(EPOCH FROM now() - last_seen) FROM scoring_workerheartbeat "
                "WHERE hostname = %s",
                (hostname,),
            )
        except psycopg.Error:
            return None
        return float(rows[0][0]) if rows else None

    def status_counts(self, external_ids: list[str]) -> dict[str, int]:
        rows = self.query(
            "SELECT status, count(*) FROM scoring_transaction WHERE external_id = ANY(%s) "
            "GROUP BY status",
            (list(external_ids),),
        )
        return {status: n for status, n in rows}


def _body(raw: bytes):
    text = raw.decode(errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text
