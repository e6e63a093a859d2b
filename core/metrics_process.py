"""Where each process writes its Prometheus samples (prometheus-client multiprocess mode).

Every process that counts something (gunicorn workers, Celery pool processes, management
commands) writes its samples to small mmap files; ``/metrics`` merges the files of all of them, so
the figures are right with any number of web and worker processes on a host.

Layout under the base directory (``METRICS_DIR``, default ``$FRAUDCASES_VAR_DIR/metrics``): one
sub-directory per process group, owned by the entry point that starts the group and wiped when it
starts (a restart is a counter reset, which Prometheus handles):

- ``web-<bind>``: a gunicorn master and its workers (``gunicorn.conf.py``);
- ``worker-<node name>``: a Celery worker and its pool processes (``fraudcases/celery.py``);
- ``proc-<pid>``: any other process (``manage.py`` commands, the stream consumer, tests), chosen
  by ``core.metrics`` on import; removed when the web server next starts, once that pid
  is gone (its counts leave the sums then: Prometheus sees a counter reset, as for a restart).

This module imports neither Django nor prometheus-client (nor the ``fraudcases`` package): the
gunicorn config loads it by path, and the variable must be set before prometheus-client is
imported, because that import decides between single- and multi-process mode.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
_BASE_DIR = Path(__file__).resolve().parent.parent
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


def metrics_base_dir() -> Path:
    """The directory holding every process group's sample files on this host."""
    explicit = os.environ.get("METRICS_DIR")
    if explicit:
        return Path(explicit)
    var_dir = os.environ.get("FRAUDCASES_VAR_DIR") or str(_BASE_DIR / "var")
    return Path(var_dir) / "metrics"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _private_mkdir(path: Path) -> None:
    """Create ``path`` and any missing parent (e.g. VAR_DIR itself) with mode 700."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def _prune_dead_processes(base: Path) -> None:
    """Remove ``proc-<pid>`` directories of processes that have ended."""
    for path in base.glob("proc-*"):
        pid = path.name.removeprefix("proc-")
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def metrics_process_dir_prepare(*, group: str, wipe: bool = True, prune: bool = False) -> Path:
    """Point this process (and the processes it forks) at the directory of ``group``.

    ``wipe`` empties it first: the entry point of a process group calls this once at start,
    before any worker process is forked. ``prune`` also removes the ``proc-<pid>`` directories
    of ended processes (the web server does, when it starts: its own counters restart then).
    """
    base = metrics_base_dir()
    path = base / _UNSAFE.sub("_", group)
    if wipe:
        shutil.rmtree(path, ignore_errors=True)
    if prune:
        _prune_dead_processes(base)
    _private_mkdir(path)
    os.environ[ENV_VAR] = str(path)
    return path


def metrics_process_default() -> Path:
    """The directory of a process that no entry point prepared: ``proc-<pid>`` (kept)."""
    current = os.environ.get(ENV_VAR)
    if current and Path(current).is_dir():
        return Path(current)
    return metrics_process_dir_prepare(group=f"proc-{os.getpid()}", wipe=False)


def metrics_process_dead(pid: int) -> None:
    """Bookkeeping when a forked process ends: drop its "live" gauges (counters stay)."""
    path = os.environ.get(ENV_VAR)
    if not path:
        return
    for sample_file in Path(path).glob(f"gauge_live*_{pid}.db"):
        sample_file.unlink(missing_ok=True)
