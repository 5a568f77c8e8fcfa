"""The ``scopegate`` console script: Django's manage.py, installed on PATH."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scopegate.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
