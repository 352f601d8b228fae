"""Small SVG charts drawn on the server: no script, no inline style, colours from classes."""

from dataclasses import dataclass

WIDTH, HEIGHT = 480, 120


@dataclass(frozen=True)
class Bar:
    """One rectangle of a chart."""

    x: float
    y: float
    width: float
    height: float
    css: str
    label: str


@dataclass(frozen=True)
class Chart:
    """The bars of a chart, its size, and a text alternative for screen readers."""

    bars: list[Bar]
    width: int
    height: int
    summary: str


def stacked_chart(columns: list[dict[str, int]]) -> Chart:
    """One column per period, stacked by status."""
    peak = max((sum(column.values()) for column in columns), default=0) or 1
    step = WIDTH / max(len(columns), 1)
    bars = []
    for index, column in enumerate(columns):
        bottom = float(HEIGHT)
        for status, number in column.items():
            if not number:
                continue
            height = HEIGHT * number / peak
            bottom -= height
            age = len(columns) - index - 1
            label = f"{number} {status}, {age} h ago" if age else f"{number} {status}, this hour"
            bars.append(Bar(index * step + 1, bottom, step - 2, height, f"st-{status}", label))
    total = sum(sum(column.values()) for column in columns)
    return Chart(bars, WIDTH, HEIGHT, f"{total} deliveries in the last {len(columns)} hours")


def bar_chart(values: list[int]) -> Chart:
    """One bar per period."""
    peak = max(values, default=0) or 1
    step = WIDTH / max(len(values), 1)
    bars = [
        Bar(
            index * step + 1,
            HEIGHT - HEIGHT * value / peak,
            step - 2,
            HEIGHT * value / peak,
            "bar",
            f"{value} attempts, {len(values) - index - 1} min ago",
        )
        for index, value in enumerate(values)
        if value
    ]
    return Chart(bars, WIDTH, HEIGHT, f"{sum(values)} attempts in the last {len(values)} minutes")
