"""What the test_mass_assignment_* modules share."""

from common.tests.helpers import database_changes, database_state

LONG_AGO = "2000-01-01T00:00:00Z"


def changed_models(before: dict) -> dict[str, tuple[int, int]]:
    """Per changed model: how many rows are new or changed, how many were removed or
    changed."""
    return {
        model: (len(change["added"]), len(change["removed"]))
        for model, change in database_changes(before, database_state()).items()
    }
