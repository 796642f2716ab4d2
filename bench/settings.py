"""Benchmark settings: the real settings, with the bench views routed (bench/urls.py).

Use as DJANGO_SETTINGS_MODULE=bench.settings, with the project root on PYTHONPATH.
"""

from meldpunt.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
