"""Path converters every app's URLs share."""

from __future__ import annotations

import uuid

UUID_REGEX = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


class AnyCaseUuidConverter:
    """`<anyuuid:…>`: a UUID spelled 8-4-4-4-12 in either case, as ids are taken in bodies and
    query strings; Django's `<uuid:…>` takes lower case only, so a client that keeps ids in
    upper case was told its own invoice did not exist. Yields a UUID; writes lower case."""

    regex = UUID_REGEX

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value: uuid.UUID | str) -> str:
        return str(uuid.UUID(str(value)))
