"""How admin commands print: a table for people, JSON for scripts (`--json`)."""

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

Command = TypeVar("Command", bound=Callable[..., Any])
Column = tuple[str, Callable[[dict[str, Any]], Any]]


def console(err: bool = False) -> Console:
    """A console that keeps lines whole when the output is a pipe or a file."""
    stream = sys.stderr if err else sys.stdout
    width = None if stream.isatty() else 240
    return Console(file=stream, width=width, soft_wrap=not stream.isatty())


def print_json(value: Any) -> None:
    """Print `value` as indented JSON."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> None:
    """Print rows as a table, or say there are none."""
    if not rows:
        click.echo("(none)")
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for title, _ in columns:
        table.add_column(title, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(get(row)) for _, get in columns))
    console().print(table)


def print_fields(item: dict[str, Any], names: Sequence[str]) -> None:
    """Print one object as `name  value` lines."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for name in names:
        table.add_row(name, _cell(item.get(name)))
    console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False) if value else "-"
    return str(value)
