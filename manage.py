#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    # A developer tool: local settings unless the environment names others (deployments set
    # DJANGO_SETTINGS_MODULE=fraudcases.settings.production for every process).
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fraudcases.settings.local")
    os.umask(0o077)  # files created under var/ (SQLite, keys, models) are private (600/700)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
