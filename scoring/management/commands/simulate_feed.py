"""``manage.py simulate_feed``: post synthetic live traffic to the API over real HTTP.

A few normal transactions a second for the demo's accounts, and now and then a fraud burst, so
cases appear in the queue within seconds. Runs until interrupted (or ``--duration`` seconds).
"""

import json
import random
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from scoring.engine.synthetic import FRAUD_PATTERNS, LiveFeed


class Command(BaseCommand):
    help = "Send simulated transactions to POST /api/v1/transactions."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")
        parser.add_argument("--rate", type=float, default=2.0, help="Normal transactions/second.")
        parser.add_argument(
            "--burst-every", type=float, default=20.0, help="Seconds between fraud bursts."
        )
        parser.add_argument("--accounts", type=int, default=3000, help="As in seed_demo.")
        parser.add_argument(
            "--min-gap",
            type=int,
            default=1800,
            help="Seconds before the same account pays again (keeps normal traffic normal).",
        )
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--duration", type=float, default=0, help="Stop after N s (0: never).")
        parser.add_argument("--api-key", default="", help="Default: the demo key in var/.")

    def _post(self, url: str, key: str, items: list[dict]) -> dict:
        body = json.dumps({"transactions": items}).encode()
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def handle(
        self, *args, url, rate, burst_every, accounts, min_gap, seed, duration, api_key, **options
    ):
        key = api_key or (
            settings.FEED_API_KEY_FILE.read_text().strip()
            if settings.FEED_API_KEY_FILE.exists()
            else ""
        )
        if not key:
            raise CommandError("No API key: run `manage.py seed_demo` or pass --api-key.")
        endpoint = url.rstrip("/") + "/api/v1/transactions"
        feed = LiveFeed(n_accounts=accounts, seed=seed, min_gap_seconds=min_gap)
        started = time.monotonic()
        # The first burst comes early so a fresh demo shows a case within seconds.
        next_burst = started + min(5.0, burst_every)
        sent = bursts = 0
        patterns = list(FRAUD_PATTERNS)
        random.shuffle(patterns)
        self.stdout.write(f"Feeding {endpoint} at ~{rate}/s, a fraud burst every {burst_every}s.")
        while not duration or time.monotonic() - started < duration:
            tick = time.monotonic()
            now = datetime.now(UTC)
            count = max(1, int(rate) + (1 if random.random() < rate - int(rate) else 0))
            # Fewer (or none) when few accounts are awake at this hour: nights are quiet.
            items = feed.normal(now=now, count=count)
            if tick >= next_burst:
                pattern = patterns[bursts % len(patterns)]
                items += feed.fraud_burst(now=now, pattern=pattern)
                bursts += 1
                next_burst = tick + burst_every
                self.stdout.write(f"Fraud burst #{bursts}: {pattern}")
            if not items:
                time.sleep(1.0)
                continue
            try:
                result = self._post(endpoint, key, items)
                sent += result.get("accepted", 0)
            except urllib.error.HTTPError as exc:
                self.stderr.write(f"API answered {exc.code}: {exc.read()[:300]!r}")
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                self.stderr.write(f"API not reachable yet ({exc}); retrying.")
                time.sleep(2)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        self.stdout.write(f"Sent {sent} transactions, {bursts} fraud bursts.")
