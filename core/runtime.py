"""Process start-up: private file modes and the directories the settings name.

Settings only name paths; this module makes them, at start-up (``FraudcasesConfig.ready``), so
importing settings has no side effects. Entry points (``manage.py``, ``wsgi.py``, the Celery app)
set ``os.umask(0o077)`` first, so every file a process creates under ``VAR_DIR`` (SQLite database
and journal, broker messages, models, attachments, keys) is mode 600 and every directory 700.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def _private_dir(path: Path) -> None:
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(PRIVATE_DIR_MODE)


def runtime_dirs_prepare() -> None:
    """Create VAR_DIR and the directories below it that the settings use (mode 700 each).

    Directories that already exist are left as they are (an operator may have chosen a mode).
    """
    dirs = [Path(settings.VAR_DIR), Path(settings.STATIC_ROOT), Path(settings.MODEL_STORE_DIR)]
    if str(settings.CELERY_BROKER_URL).startswith("filesystem://"):
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            if options.get(key):
                dirs.append(Path(options[key]))
    for path in dirs:
        _private_dir(path)


def sqlite_files_private(*, sender=None, connection, **kwargs) -> None:
    """``connection_created`` receiver: the SQLite database and its WAL/SHM files are mode 600,
    also in processes that did not set the umask (e.g. a test runner)."""
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    for suffix in ("", "-wal", "-shm"):
        path = Path(name + suffix)
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(PRIVATE_FILE_MODE)
        except OSError:  # owned by another user or gone: nothing this process may change
            continue
