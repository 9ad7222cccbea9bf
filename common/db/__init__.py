"""Small database helpers shared by the apps: transactions (`common.db.transactions`) and
plain SQL on the hot paths (`common.db.statements`)."""

from common.db.statements import aware_time, database_time, fetched, inserted, loaded, selected
from common.db.transactions import (
    GAVE_UP_WAITING,
    ROLLED_BACK_FOR_ANOTHER,
    all_or_nothing,
    atomic_if_needed,
    atomic_step,
    database_busy,
    database_rolled_back_for_another,
    in_all_or_nothing,
    once_more_if_rolled_back_for_another,
    require_transaction,
    savepoint_if_nested,
)

__all__ = [
    "GAVE_UP_WAITING",
    "ROLLED_BACK_FOR_ANOTHER",
    "all_or_nothing",
    "atomic_if_needed",
    "atomic_step",
    "aware_time",
    "database_busy",
    "database_rolled_back_for_another",
    "database_time",
    "fetched",
    "in_all_or_nothing",
    "inserted",
    "loaded",
    "once_more_if_rolled_back_for_another",
    "require_transaction",
    "savepoint_if_nested",
    "selected",
]
