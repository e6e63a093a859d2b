"""The load generator of ``bench/test_bench_pipeline.py``: a separate process (standard library
only, no Django) that posts pre-serialised bodies over HTTP and records each request's timing.

Bounded by construction: it sends the bodies it is given, once each, to a loopback address, with
a timeout per request, and stops.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path


def post_all(host: str, port: int, path: str, key: str, bodies: list[Path], out: Path) -> None:
    """POST each body file in turn on one keep-alive connection; write the timings to ``out``."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"loadgen only targets this machine, not {host}")
    connection = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    timings = []
    for body_path in bodies:
        body = body_path.read_bytes()
        started = time.time()
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
        timings.append(
            {
                "start": started,
                "end": time.time(),
                "status": response.status,
                "answer": answer[:300].decode(errors="replace"),
            }
        )
    connection.close()
    out.write_text(json.dumps(timings))


if __name__ == "__main__":
    host, port, path, key, out, *bodies = sys.argv[1:]
    post_all(host, int(port), path, key, [Path(b) for b in bodies], Path(out))
