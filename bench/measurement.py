"""What every benchmark returns: a figure of the service beside a baseline from the same run.

The convention `make bench` relies on: a module `bench/<name>.py` with a function
`run(size: Size) -> list[Measurement]` is a benchmark. `size` is "smoke" (seconds: the test
suite runs it), "quick" (all benchmarks in about three minutes) or "full" (about 15 minutes).
"""

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

Size = Literal["smoke", "quick", "full"]
SIZES: tuple[Size, ...] = ("smoke", "quick", "full")
T = TypeVar("T")


@dataclass(frozen=True)
class Measurement:
    """One line of bench/RESULTS.md.

    `ratio` is service / baseline whatever the unit: for a rate higher is better, for a time
    or a size lower is; `target` says which way, as the issue states it (e.g. "≥ 0.5").
    """

    what: str
    service: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    target: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        """Service over baseline, or None without a baseline."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.service / self.baseline


def pick(size: Size, smoke: T, quick: T, full: T) -> T:
    """The value of a parameter for `size`."""
    return {"smoke": smoke, "quick": quick, "full": full}[size]


def repeats(size: Size) -> int:
    """How many times a measurement is taken (its median is reported)."""
    return 3 if size == "full" else 1


def median_of(times: int, measure: Callable[..., float], *args: Any) -> float:
    """The median of `times` runs of `measure(*args)`."""
    return statistics.median(measure(*args) for _ in range(times))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The `fraction` percentile of `values` (nearest rank)."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[rank]
