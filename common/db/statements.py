"""Plain SQL on the hot paths: a statement's rows without Django's cursor where it can, and
model rows written and read without the ORM's per-call Python (docs/decisions.md, Speed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.utils.dateparse import parse_datetime

from common.db.transactions import atomic_if_needed

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)
# A column type's modifiers: "(300)" of "varchar(300)", "(12, 2)" of "numeric(12, 2)".
TYPE_MODIFIERS = re.compile(r"\(.*?\)")


def fetched(
    sql: str, params: Sequence[object] | None = None, database: BaseDatabaseWrapper | None = None
) -> list[tuple]:
    """The rows of one plain-SQL statement on a hot path (none for an INSERT). On PostgreSQL
    through `common.postgresql`'s `fetch` (psycopg's connection, without Django's cursor,
    while nothing counts or wraps its statements); elsewhere Django's cursor. On `database`,
    a connection the caller has already looked up, or on the default one."""
    database = database or connections[DEFAULT_DB_ALIAS]
    fetch = getattr(database, "fetch", None)
    if fetch is not None:
        return fetch(sql, params)
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


def database_time(moment: datetime, database: BaseDatabaseWrapper | None = None) -> object:
    """An aware time as a parameter of plain SQL: as is for PostgreSQL, as Django stores it
    (UTC text) for SQLite. On `database`, a connection the caller has already looked up,
    or on the default one."""
    return (database or connection).ops.adapt_datetimefield_value(moment)


def aware_time(value: object) -> datetime | None:
    """A time read by plain SQL, aware and UTC: PostgreSQL gives one, SQLite a naive one
    (or text, for an expression)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else parse_datetime(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def inserted(instances: Sequence[M]) -> list[M]:
    """New instances of one model written as `bulk_create` writes them (each field's
    `pre_save`, so `auto_now_add` is stamped, then its database value), for a fraction of
    `bulk_create`'s Python. On PostgreSQL rows are one INSERT of one array per column,
    whatever their number: its text, built once per model, stays within what psycopg keeps
    parsed and prepares. Elsewhere, and for one row, one INSERT of VALUES per batch the
    backend allows, built once per model and row count.

    Only for what it can write faithfully: a primary key made in Python, no value the
    database makes (generated columns, database defaults read back) and no parent table;
    anything else raises ValueError. Like `bulk_create`, it sends no `pre_save`/`post_save`
    (the `create()` calls it replaced in checkout did; no receiver listens there).
    """
    if not instances:
        return []
    model = type(instances[0])
    fields = _insertable_fields(model)
    if any(type(instance) is not model or instance.pk is None for instance in instances):
        raise ValueError(f"inserted() needs {model.__name__} instances with their keys set.")
    # Looked up once: every field's value is prepared with it.
    database = connections[DEFAULT_DB_ALIAS]
    if database.vendor == "postgresql" and len(instances) > 1:
        # One array per column: the statement's text does not grow with the rows, so psycopg
        # keeps its parse (at most 50 parameters) and prepares it as it does the others. One
        # row keeps VALUES: psycopg dumps a list in Python, about 0.1 ms for nine columns.
        columns = [
            [
                field.get_db_prep_save(field.pre_save(instance, True), database)
                for instance in instances
            ]
            for field in fields
        ]
        fetched(_unnest_sql(model), columns, database)
        return _written(instances, database)
    batch = database.ops.bulk_batch_size(fields, instances) or len(instances)
    several_statements = batch < len(instances)
    with atomic_if_needed() if several_statements else nullcontext():
        for start in range(0, len(instances), batch):
            rows = instances[start : start + batch]
            values = [
                field.get_db_prep_save(field.pre_save(instance, True), database)
                for instance in rows
                for field in fields
            ]
            fetched(_insert_sql(model, len(rows)), values, database)
    return _written(instances, database)


def _written(instances: Sequence[M], database: BaseDatabaseWrapper) -> list[M]:
    for instance in instances:
        instance._state.adding = False
        instance._state.db = database.alias
    return list(instances)


@lru_cache(maxsize=64)
def _insertable_fields(model: type[models.Model]) -> tuple[models.Field, ...]:
    """The model's columns, once it is known that `inserted` can write them all."""
    made_by_database = [
        field.name
        for field in model._meta.concrete_fields
        if field.generated or field.db_returning or field.has_db_default()
    ]
    if made_by_database:
        raise ValueError(f"inserted() cannot read back {', '.join(made_by_database)}.")
    if any(link is not None for link in model._meta.parents.values()):
        raise ValueError(f"inserted() cannot write {model.__name__}'s parent table.")
    return tuple(model._meta.concrete_fields)


@lru_cache(maxsize=256)
def _insert_sql(model: type[models.Model], rows: int) -> str:
    quote = connection.ops.quote_name
    fields = _insertable_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    table = quote(model._meta.db_table)
    # Names come from the model and values are parameters.
    return f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)}"  # noqa: S608


@lru_cache(maxsize=64)
def _unnest_sql(model: type[models.Model]) -> str:
    """PostgreSQL's INSERT of any number of rows, each column's values one array. Each array
    is cast to its column's type without modifiers (`varchar`, `numeric`): an explicit cast to
    `varchar(16)` would cut a longer value short, where the INSERT's own assignment refuses
    it, as it refuses it from VALUES."""
    quote = connection.ops.quote_name
    fields = _insertable_fields(model)
    columns = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(
        f"%s::{TYPE_MODIFIERS.sub('', field.db_type(connection))}[]" for field in fields
    )
    table = quote(model._meta.db_table)
    # Names and types come from the model and values are parameters.
    return f"INSERT INTO {table} ({columns}) SELECT * FROM unnest({arrays})"  # noqa: S608


def loaded(model: type[M], values: dict[str, object]) -> M:
    """An instance as if just read from the database, from the values a statement wrote (no
    query); fields not named take their defaults. `Model(**values)` costs several times as
    much: Django's keyword-argument path looks up every field by name."""
    row = [
        values[field.attname] if field.attname in values else field.get_default()
        for field in model._meta.concrete_fields
    ]
    return model.from_db(DEFAULT_DB_ALIAS, None, row)


def selected(
    model: type[M],
    where: str,
    params: Sequence[object],
    *,
    joined: str | None = None,
    kept: bool = False,
) -> list[M]:
    """Instances of `model` whose rows match `where` (SQL over the model's table, aliased
    `t`, and the `joined` relation's, aliased `j`), as the ORM's `select_related(joined)`
    would load them, values converted by the backend's own converters: for a fraction of
    its Python, since the statement's columns are listed once per model.

    `kept`: the rows cannot be deleted until the transaction ends (FOR KEY SHARE on
    PostgreSQL, which lets their other columns change; SQLite's write lock already holds
    every row), for rows about to be referred to by foreign keys checked at commit.

    For hot reads whose filter the ORM would compile on every call (checkout's cart).
    """
    database = connections[DEFAULT_DB_ALIAS]
    select_from, related, converters = _selection(model, joined, database.vendor)
    # In the key's order, as every other locker of these rows takes them (a delete).
    locking = ""
    if kept and database.vendor == "postgresql":
        locking = f" ORDER BY t.{model._meta.pk.column} FOR KEY SHARE OF t"
    rows = fetched(f"{select_from} WHERE {where}{locking}", params, database)
    width = len(model._meta.concrete_fields)
    found = []
    for row in rows:
        values = [
            _converted(value, steps, database) if steps else value
            for value, steps in zip(row, converters, strict=True)
        ]
        instance = model.from_db(database.alias, None, values[:width])
        if related is not None:
            related.set_cached_value(
                instance, related.related_model.from_db(database.alias, None, values[width:])
            )
        found.append(instance)
    return found


def _converted(value: object, steps: tuple, database: BaseDatabaseWrapper) -> object:
    for converter, expression in steps:
        value = converter(value, expression, database)
    return value


@lru_cache(maxsize=64)
def _selection(
    model: type[models.Model], joined: str | None, vendor: str
) -> tuple[str, models.Field | None, tuple[tuple, ...]]:
    """For `selected`: the statement up to its WHERE, the joined relation's field, and each
    column's converters (the ORM's: the backend's, then the field's). Per vendor, since the
    converters differ: SQLite's UUIDs, decimals and times are converted, PostgreSQL's arrive
    typed."""
    quote = connection.ops.quote_name
    tables = [("t", model)]
    select_from = f"FROM {quote(model._meta.db_table)} t"
    related = None
    if joined is not None:
        related = model._meta.get_field(joined)
        target = related.related_model
        tables.append(("j", target))
        select_from += (
            f" JOIN {quote(target._meta.db_table)} j"
            f" ON j.{quote(related.target_field.column)} = t.{quote(related.column)}"
        )
    columns = []
    converters = []
    for alias, table_model in tables:
        for field in table_model._meta.concrete_fields:
            columns.append(f"{alias}.{quote(field.column)}")
            expression = field.get_col(alias)
            steps = connection.ops.get_db_converters(expression) + field.get_db_converters(
                connection
            )
            converters.append(tuple((step, expression) for step in steps))
    # Names come from the models; the caller's values are parameters.
    return f"SELECT {', '.join(columns)} {select_from}", related, tuple(converters)
