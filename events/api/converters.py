"""The event id in a path: as deliveries and the API show it (`evt_<hex>`), or as a UUID."""

from __future__ import annotations

import uuid

from common.converters import UUID_REGEX


class EventIdConverter:
    regex = f"evt_[0-9a-f]{{32}}|{UUID_REGEX}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value.removeprefix("evt_"))

    def to_url(self, value: uuid.UUID) -> str:
        return f"evt_{value.hex}"
