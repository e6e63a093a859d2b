"""``manage.py alerts_receiver --port 8025``: the demo's local webhook and Slack receiver.

``POST /webhook`` verifies the signature with a channel's secret (``--channel``, default
``demo-webhook``) and the timestamp (5 minutes), drops repeats by delivery id, prints one line
per delivery; ``POST /slack`` prints the Block Kit message's text. While the file
``--down-file`` (default ``VAR_DIR/alerts-receiver.down``) exists the port is closed, as if the
receiver had been killed, so the demo can show retries and recovery without stopping honcho.
"""

from __future__ import annotations

import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from alerts.models import Channel
from alerts.secrets import SecretUnavailableError, channel_secret
from alerts.transport import signature

MAX_AGE_SECONDS = 300


def refusal(secret: str, headers, body: bytes) -> str | None:
    """Why a webhook delivery is refused, or ``None`` (the checks of docs/alerts.md)."""
    timestamp = headers.get("X-Timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_AGE_SECONDS:
        return "missing or stale timestamp"
    expected = signature(secret, timestamp, body)
    if not hmac.compare_digest(expected, headers.get("X-Signature", "")):
        return "bad signature"
    return None


class Command(BaseCommand):
    help = "Local receiver for the demo's signed webhook and Slack channels."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8025)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--channel", default="demo-webhook", help="Whose secret verifies.")
        parser.add_argument("--down-file", default=None, help="While it exists: port closed.")

    def handle(self, *args, port, host, channel, down_file, **options):
        down = Path(down_file) if down_file else settings.VAR_DIR / "alerts-receiver.down"
        seen: set[str] = set()
        lock = threading.Lock()
        write = self.stdout.write
        secret_for = self._secret_loader(channel)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/slack"):
                    message = json.loads(body or b"{}")
                    write(f"[slack] {message.get('text', '')}")
                    return self._answer(200, "ok")
                if not self.path.startswith("/webhook"):
                    return self._answer(404, "no such path")
                try:
                    secret = secret_for()
                except CommandError as exc:
                    write(f"[webhook] cannot verify: {exc}")
                    return self._answer(503, "receiver has no secret")
                problem = refusal(secret, self.headers, body)
                delivery_id = self.headers.get("X-Delivery-Id", "")
                if problem:
                    write(f"[webhook] REFUSED {delivery_id}: {problem}")
                    return self._answer(401, problem)
                with lock:
                    repeat = delivery_id in seen
                    seen.add(delivery_id)
                event = json.loads(body)
                case = event.get("case") or {}
                write(
                    f"[webhook] {'repeat (ignored)' if repeat else 'verified'} {delivery_id} "
                    f"{event.get('event')} case #{case.get('id', '-')} "
                    f"{case.get('account_id', '')} {case.get('disposition') or ''}".rstrip()
                )
                return self._answer(200, "ok")

            def _answer(self, code: int, text: str):
                self.send_response(code)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text.encode())

            def log_message(self, *args):
                pass

        server = None
        write(f"Alerts receiver on http://{host}:{port}/webhook and /slack (outage: touch {down})")
        try:
            while True:
                if down.exists() and server is not None:
                    server.shutdown()
                    server.server_close()
                    server = None
                    write(f"Receiver DOWN (simulated outage) until {down} is removed")
                elif not down.exists() and server is None:
                    server = ThreadingHTTPServer((host, port), Handler)
                    server.daemon_threads = True
                    threading.Thread(target=server.serve_forever, daemon=True).start()
                    write("Receiver UP")
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()

    def _secret_loader(self, name: str):
        """The channel's secret, re-read when it is not known yet (seed_demo may run later)."""
        cache: dict[str, str] = {}

        def load() -> str:
            if "secret" not in cache:
                channel = Channel.objects.filter(name=name).first()
                if channel is None:
                    raise CommandError(f"no channel named {name!r} (run manage.py seed_demo)")
                try:
                    cache["secret"] = channel_secret(channel)
                except SecretUnavailableError as exc:
                    raise CommandError(str(exc)) from exc
            return cache["secret"]

        return load
