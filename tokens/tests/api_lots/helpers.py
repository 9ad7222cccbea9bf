"""What this package's lot API test modules share."""

from datetime import UTC, datetime

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
