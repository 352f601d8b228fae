"""Hot statements run through the DBAPI driver: compiled once, executed without SQLAlchemy.

SQLAlchemy's execution around one short statement (connection, execution context, result)
costs more Python than the driver's own execution; the worker's two statements per attempt
and the API's three per event skip it. A statement is still written (and compiled) by
SQLAlchemy, so its SQL, its bind processing and its result processing are exactly what
`Connection.execute` would run.
"""

from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement, ReturnsRows

Processor = Callable[[Any], Any]
Fetch = Callable[[Any], Any]  # the driver's cursor -> what the caller gets


@contextmanager
def lent(engine: Engine) -> Iterator[PoolProxiedConnection]:
    """A connection of the engine's pool for several statements in a row, returned after."""
    error: Any = engine.dialect.loaded_dbapi.Error
    try:
        pooled = engine.raw_connection()
    except error as exc:
        # The pool does not wrap a failed connect as Engine.connect() does.
        raise DBAPIError.instance(None, None, exc, error) from exc
    try:
        yield pooled
    finally:
        pooled.close()


class DriverStatement:
    """One statement, run in autocommit on a connection of the engine's pool."""

    def __init__(self, engine: Engine, statement: ClauseElement) -> None:
        self.engine = engine
        dialect = engine.dialect
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        # The statement's own constants (literals SQLAlchemy made binds of), processed once.
        named = {name for name, bind in compiled.binds.items() if bind.required}
        full = compiled.construct_params(dict.fromkeys(named))
        self.constants = {
            name: _processed(compiled.binds[name].type.bind_processor(dialect), value)
            for name, value in full.items()
            if name not in named
        }
        self.binds: dict[str, Processor | None] = {
            name: compiled.binds[name].type.bind_processor(dialect) for name in named
        }
        columns = list(statement.exported_columns) if isinstance(statement, ReturnsRows) else []
        self.row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        self.results = [
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := column.type.result_processor(dialect, None)) is not None
        ]
        self.error: Any = dialect.loaded_dbapi.Error  # the driver's base exception class

    def one_or_none(
        self, values: Mapping[str, Any], on: PoolProxiedConnection | None = None
    ) -> Any | None:
        """The statement's first row (None without one); driver errors as SQLAlchemy's."""
        row = self._execute(values, on, _first)
        return None if row is None else self._row(row)

    def all(self, values: Mapping[str, Any], on: PoolProxiedConnection | None = None) -> list[Any]:
        """Every row of the statement."""
        return [self._row(row) for row in self._execute(values, on, _every)]

    def execute(self, values: Mapping[str, Any], on: PoolProxiedConnection | None = None) -> None:
        """Run a statement that returns no rows."""
        self._execute(values, on, _nothing)

    def _execute(
        self, values: Mapping[str, Any], on: PoolProxiedConnection | None, fetch: Fetch
    ) -> Any:
        params = dict(self.constants)
        for name, processor in self.binds.items():
            params[name] = _processed(processor, values[name])
        if on is not None:
            return self._run(on, params, fetch)
        with lent(self.engine) as pooled:
            return self._run(pooled, params, fetch)

    def _row(self, row: Any) -> Any:
        if self.results:
            row = list(row)
            for index, processor in self.results:
                row[index] = processor(row[index])
        return self.row(*row)

    def _run(self, pooled: PoolProxiedConnection, params: dict[str, Any], fetch: Fetch) -> Any:
        driver: Any = pooled.driver_connection
        try:
            # One statement is its own transaction: no BEGIN and COMMIT round trips.
            driver.autocommit = True
            found = fetch(driver.execute(self.sql, params))
            driver.autocommit = False  # as the pool lends it to every other user
            return found
        except self.error as exc:
            dbapi: DBAPIConnection | None = pooled.dbapi_connection
            gone = self.engine.dialect.is_disconnect(exc, dbapi, None)
            # Never lent again after a failure, whatever state it was left in.
            pooled.invalidate(exc)
            if gone:
                # The database went away: the pool's other connections went with it. A new
                # pool, as SQLAlchemy's own execution does, so a retry finds a live one.
                self.engine.dispose(close=False)
            raise DBAPIError.instance(
                self.sql, params, exc, self.error, connection_invalidated=gone
            ) from exc


def _processed(processor: Processor | None, value: Any) -> Any:
    return value if processor is None else processor(value)


def _first(cursor: Any) -> Any:
    return cursor.fetchone()


def _every(cursor: Any) -> Any:
    return cursor.fetchall()


def _nothing(cursor: Any) -> None:
    return None
