"""What a gunicorn worker does once it has loaded the application (config/gunicorn.py)."""

from __future__ import annotations

import gc

from django.urls import get_resolver

from common import heartbeat
from config import gunicorn


class StubWorker:
    def notify(self) -> None:
        """gunicorn's worker tells its arbiter it is alive; nothing to tell here."""


def test_a_worker_keeps_what_it_loaded_out_of_full_collections(monkeypatch):
    """A full collection walked the application's loaded objects in every worker, about the
    same time in all four: a pause every few thousand requests that the requests queued
    behind them waited out (docs/decisions.md, Speed: the tail at 8 connections). The
    objects a full collection walks are those `gc.get_objects()` lists."""
    monkeypatch.setattr(heartbeat, "_notify", [])
    try:
        gunicorn.post_worker_init(StubWorker())

        resolver = get_resolver()
        assert gc.get_freeze_count() > 0
        assert not any(tracked is resolver for tracked in gc.get_objects())
        assert not any(tracked is resolver.url_patterns for tracked in gc.get_objects())
        assert heartbeat._notify, "the heartbeat is installed as before"
    finally:
        gc.unfreeze()
