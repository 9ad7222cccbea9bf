"""Trimming text the way every trimmed field does: whitespace, and the characters that show
nothing (a zero-width space, a soft hyphen, a byte order mark), at either end. Python's
str.strip() keeps the latter, so a name of a zero-width space alone passed as non-blank and
was listed as an empty-looking one."""

from __future__ import annotations

# Unicode's default-ignorable code points of the Basic Multilingual Plane: characters a
# font draws as nothing.
INVISIBLE_RANGES = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, joiners, direction marks
    (0x202A, 0x202E),  # direction embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, direction isolates
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero-width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
)
INVISIBLE = frozenset(
    chr(code) for first, last in INVISIBLE_RANGES for code in range(first, last + 1)
)
# The same as a regular expression's character class body, for the OpenAPI schema.
INVISIBLE_PATTERN = "".join(
    f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
    for first, last in INVISIBLE_RANGES
)


def _trimmed_away(character: str) -> bool:
    return character.isspace() or character in INVISIBLE


def trimmed(value: str) -> str:
    """`value` without whitespace or invisible characters at either end (in one pass: a
    body of a megabyte alternating the two is read once)."""
    value = value.strip()
    if not value or not (value[0] in INVISIBLE or value[-1] in INVISIBLE):
        return value
    start, end = 0, len(value)
    while start < end and _trimmed_away(value[start]):
        start += 1
    while end > start and _trimmed_away(value[end - 1]):
        end -= 1
    return value[start:end]


def storable(text: str) -> bool:
    """Whether a text column can hold `text`: no NUL (PostgreSQL's text refuses it) and no
    lone surrogate (a JSON escape such as `\\ud800`, valid JSON but no UTF-8). Writing or
    looking up either raised, a 500 whose failure could not be recorded either."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
