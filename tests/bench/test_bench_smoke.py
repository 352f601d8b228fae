"""Every benchmark runs end to end at its smallest size, and `make bench` writes its table.

Speed is not asserted here (the machine is shared and noisy): only that each benchmark still
measures the service and its baseline, so that `make bench` works when it is wanted.
"""

import math
from pathlib import Path

import pytest

from bench.__main__ import discover, report
from bench.measurement import Measurement

BENCHMARKS = discover()


def test_every_benchmark_module_is_found() -> None:
    """The modules `make bench` runs: one per measurement family of issue 9."""
    assert {"deliveries", "fanout", "ingest", "latency", "memory", "peers", "purge"} <= set(
        BENCHMARKS
    )


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_benchmark_smoke_run_measures_the_service_and_its_baseline(name: str) -> None:
    """A smoke run returns measurements with finite, positive figures."""
    measurements = BENCHMARKS[name]("smoke")
    assert measurements
    for measurement in measurements:
        assert math.isfinite(measurement.service) and measurement.service >= 0, measurement
        if measurement.baseline is not None:
            assert math.isfinite(measurement.baseline) and measurement.baseline >= 0
            assert measurement.baseline_what, measurement


def test_report_has_the_machine_and_one_row_per_measurement(tmp_path: Path) -> None:
    """RESULTS.md names the machine and gives service, baseline and ratio on each row."""
    rows = [
        Measurement("deliveries/s", 300.0, "/s", 600.0, "raw loop", "≥ 0.5"),
        Measurement("API answer", 42.0, "ms", target="≤ 100 ms"),
    ]
    text = report({"x": rows}, "smoke", 12.0, {"CPU": "2 cores"})
    assert "| CPU | 2 cores |" in text
    assert "| deliveries/s | 300/s | 600/s (raw loop) | 0.50 | ≥ 0.5 |" in text
    assert "| API answer | 42.0 ms |  |  | ≤ 100 ms |" in text
