"""Hand-written statements for the hot paths, on both dialects.

The ORM builds every query afresh (a few hundred microseconds of Python each); a message's
reply path runs several, so those are written once here. A statement is written with
PostgreSQL's numbered placeholders (`$1`); on SQLite they become `?1`, which binds the same
way. Datetimes go in as they are (asyncpg takes them; tortoise registers SQLite's adapter) and
come back through the model's field, as the ORM would read them.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

_PLACEHOLDER = re.compile(r"\$(\d+)")


def client() -> BaseDBAsyncClient:
    """The connection in use: a transaction's inside `in_transaction()`, else the pool."""
    return connections.get("default")


def on_postgres() -> bool:
    return client().capabilities.dialect == "postgres"


@functools.cache
def _in_dialect(sql: str, dialect: str) -> str:
    return sql if dialect == "postgres" else _PLACEHOLDER.sub(r"?\1", sql)


async def fetch(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """Run a statement and return its rows (a RETURNING clause's included)."""
    connection = client()
    # execute_query_dict: tortoise's execute_query drops an INSERT's or UPDATE's RETURNING
    # rows on PostgreSQL.
    return await connection.execute_query_dict(
        _in_dialect(sql, connection.capabilities.dialect), values
    )


async def execute(sql: str, values: list[Any]) -> int:
    """Run a statement; returns how many rows it changed."""
    connection = client()
    changed, _ = await connection.execute_query(
        _in_dialect(sql, connection.capabilities.dialect), values
    )
    return changed


def to_db(model: type[Model], values: dict[str, Any]) -> list[Any]:
    """Values for a statement's placeholders, converted and checked as the ORM would (JSON
    encoded, a value too long for its column refused)."""
    fields = model._meta.fields_map
    return [fields[name].to_db_value(value, model) for name, value in values.items()]


def read(model: type[Model], row: dict[str, Any]) -> dict[str, Any]:
    """A row's values as the model's fields give them (SQLite returns datetimes as text)."""
    fields = model._meta.fields_map
    return {
        name: value if value is None or name not in fields
        else fields[name].to_python_value(value)
        for name, value in row.items()
    }  # fmt: skip
