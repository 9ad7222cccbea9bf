"""Runs a manage.py command in this process and reports this process's peak RSS on stderr."""

import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.core.management import execute_from_command_line

try:
    execute_from_command_line(["manage.py", *sys.argv[1:]])
finally:
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KB={peak_kb}", file=sys.stderr)
