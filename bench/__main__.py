"""Run every benchmark and write bench/RESULTS.md: `make bench` (`--quick`, or name a few).

    .venv/bin/python -m bench [--quick | --smoke] [--output FILE] [name ...]

A benchmark is any module `bench/<name>.py` with `run(size) -> list[Measurement]`
(bench/measurement.py); they run one after the other, in name order.
"""

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.measurement import Measurement, Size

BENCH = Path(__file__).resolve().parent
Benchmark = Callable[[Size], list[Measurement]]


def discover(names: Sequence[str] = ()) -> dict[str, Benchmark]:
    """Every benchmark module's `run`, by module name (only `names` when given)."""
    found = {}
    for path in sorted(BENCH.glob("*.py")):
        name = path.stem
        if name.startswith("_") or (names and name not in names):
            continue
        run = getattr(importlib.import_module(f"bench.{name}"), "run", None)
        if callable(run):
            found[name] = run
    missing = set(names) - set(found)
    if missing:
        sys.exit(f"no benchmark named {', '.join(sorted(missing))}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="about three minutes in all")
    sizes.add_argument("--smoke", action="store_true", help="seconds: only that each one runs")
    parser.add_argument("--output", type=Path, default=BENCH / "RESULTS.md")
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args()
    size: Size = "quick" if args.quick else "smoke" if args.smoke else "full"
    results: dict[str, list[Measurement]] = {}
    failed: dict[str, str] = {}
    before = machine()  # the load average before this run adds its own
    started = time.monotonic()
    for name, run in discover(args.names).items():
        print(f"== {name} ({size})", flush=True)
        began = time.monotonic()
        try:
            results[name] = run(size)
        except (Exception, SystemExit) as exc:  # one broken benchmark must not hide the rest
            traceback.print_exc()
            failed[name] = f"{type(exc).__name__}: {exc}"
            continue
        for measurement in results[name]:
            print("  " + " | ".join(row(measurement)), flush=True)
        print(f"   {time.monotonic() - began:.0f} s", flush=True)
    text = report(results, size, time.monotonic() - started, before)
    if failed:
        text += "\nFailed: " + "; ".join(f"`{name}` ({why})" for name, why in failed.items()) + "\n"
    args.output.write_text(text)
    print(f"wrote {args.output}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


def row(m: Measurement) -> list[str]:
    """The table cells of one measurement."""
    ratio = m.ratio
    baseline = f"{figure(m.baseline, m.unit)} ({m.baseline_what})" if m.baseline is not None else ""
    service = figure(m.service, m.unit) + (f" ({m.note})" if m.note else "")
    return [m.what, service, baseline or m.baseline_what, f"{ratio:.2f}" if ratio else "", m.target]


def figure(value: float | None, unit: str) -> str:
    """A value with its unit, to a sensible precision."""
    if value is None:
        return ""
    digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}".replace(" /s", "/s")


def report(
    results: dict[str, list[Measurement]], size: Size, seconds: float, host: dict[str, str]
) -> str:
    """bench/RESULTS.md: the machine, the versions, then one table of every measurement."""
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` ({size} run, {seconds / 60:.1f} min) on"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Ratios are service / baseline, both"
        " measured in the same run on the same machine: compare ratios, not rates, between"
        " machines. Targets are issue 9's.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in host.items()),
        "",
        "| what | service | baseline (same run) | ratio | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for measurements in results.values():
        lines += ["| " + " | ".join(row(m)) + " |" for m in measurements]
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
         if line.startswith("MemTotal")),
        "0",
    )  # fmt: skip
    versions = ", ".join(
        f"{package} {_version(package)}"
        for package in ("celery", "kombu", "sqlalchemy", "psycopg", "flask", "gunicorn")
    )
    return {
        "CPU": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "memory": f"{int(memory) / 1024 / 1024:.0f} GiB",
        "load average before": load,
        "system": platform.platform(),
        "Python": platform.python_version(),
        "packages": versions,
        "PostgreSQL": _command(["psql", "--version"]),
        "Redis": _command(["redis-server", "--version"]),
        "RabbitMQ": _command(["rabbitmqctl", "version"]),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _command(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not found"
    return (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout else "unknown"


if __name__ == "__main__":
    main()
