"""Benchmark settings: the production settings plus the floor endpoints (bench/urls.py)."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
