"""A hot statement run through the DBAPI driver: compiled once, executed without SQLAlchemy.

SQLAlchemy's execution around one short statement (connection, execution context, result)
costs more Python than the driver's own execution; the worker's two statements per attempt
skip it. The statement is still written (and compiled) by SQLAlchemy, so its SQL, its bind
processing and its result processing are exactly what `Connection.execute` would run.
"""

from collections import namedtuple
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql.expression import Executable, ReturnsRows

Processor = Callable[[Any], Any]


class DriverStatement:
    """One RETURNING statement, run in autocommit on a connection of the engine's pool."""

    def __init__(self, engine: Engine, statement: ReturnsRows) -> None:
        assert isinstance(statement, Executable)
        self.engine = engine
        dialect = engine.dialect
        compiled = statement.compile(dialect=dialect)
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
        columns = list(statement.exported_columns)
        self.row = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
        self.results = [
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := column.type.result_processor(dialect, None)) is not None
        ]
        self.error: Any = dialect.loaded_dbapi.Error  # the driver's base exception class

    def one_or_none(self, values: Mapping[str, Any]) -> Any | None:
        """The statement's first row (None without one); driver errors as SQLAlchemy's."""
        params = self._params(values)
        try:
            pooled = self.engine.raw_connection()
        except self.error as exc:
            # The pool does not wrap a failed connect as Engine.connect() does.
            raise DBAPIError.instance(self.sql, params, exc, self.error) from exc
        try:
            row = self._run(pooled, params)
        finally:
            pooled.close()
        if row is None:
            return None
        if self.results:
            row = list(row)
            for index, processor in self.results:
                row[index] = processor(row[index])
        return self.row(*row)

    def _params(self, values: Mapping[str, Any]) -> dict[str, Any]:
        params = dict(self.constants)
        for name, processor in self.binds.items():
            params[name] = _processed(processor, values[name])
        return params

    def _run(self, pooled: PoolProxiedConnection, params: dict[str, Any]) -> Any | None:
        driver: Any = pooled.driver_connection
        try:
            # One statement is its own transaction: no BEGIN and COMMIT round trips.
            driver.autocommit = True
            row = driver.execute(self.sql, params).fetchone()
            driver.autocommit = False  # as the pool lends it to every other user
            return row
        except self.error as exc:
            dbapi: DBAPIConnection | None = pooled.dbapi_connection
            gone = self.engine.dialect.is_disconnect(exc, dbapi, None)
            # Never lent again after a failure, whatever state it was left in.
            pooled.invalidate(exc)
            raise DBAPIError.instance(
                self.sql, params, exc, self.error, connection_invalidated=gone
            ) from exc


def _processed(processor: Processor | None, value: Any) -> Any:
    return value if processor is None else processor(value)
