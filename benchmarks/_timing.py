"""Timing and reporting helpers shared by the benchmark modules.

``measure`` times a zero-argument callable the way ``timeit`` does: it picks a number of
calls per sample so that one sample lasts at least ``min_sample`` seconds (autorange),
takes ``repeat`` samples and reports the median time of one call. The median rather
than the minimum is reported because these are per-call *overheads* of a few
microseconds, where the minimum flatters whichever library got one lucky sample.

``Table`` collects rows of times per library and renders them with the ratios that the
benchmark asks for, in a Markdown-compatible plain-text table. Libraries that are not
installed are simply absent from the columns.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

#: How long to time, per benchmark module call. ``quick`` is for smoke tests.
DEFAULT_REPEAT = 7
DEFAULT_MIN_SAMPLE = 0.02


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to measure: samples per measurement and the minimum length of a sample."""

    repeat: int = DEFAULT_REPEAT
    min_sample: float = DEFAULT_MIN_SAMPLE

    @classmethod
    def quick(cls) -> Settings:
        return cls(repeat=3, min_sample=0.001)


def measure(fn: Callable[[], object], settings: Settings = Settings()) -> float:
    """Median seconds per call of ``fn`` over ``settings.repeat`` autoranged samples."""
    fn()  # warm up: first-call tracing, caches, lazy imports
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= settings.min_sample or number >= 1 << 20:
            break
        number *= 2 if elapsed <= 0 else max(2, min(10, int(settings.min_sample / elapsed) + 1))
    samples = [elapsed / number]
    for _ in range(settings.repeat - 1):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples)


def format_time(seconds: float | None) -> str:
    """``12.3 us`` / ``1.23 ms`` / ``1.23 s``; ``-`` for a missing value."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def format_ratio(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.1f}x"


@dataclass
class Table:
    """Per-call times of one workload across libraries, and the ratios to report.

    ``columns`` are library names in display order; ``ratios`` are ``(numerator,
    denominator)`` pairs of column names, shown as ``numerator / denominator``.
    """

    title: str
    columns: Sequence[str]
    ratios: Sequence[tuple[str, str]] = ()
    rows: list[tuple[str, dict[str, float | None]]] = field(default_factory=list)

    def add(self, name: str, times: dict[str, float | None]) -> None:
        self.rows.append((name, dict(times)))

    def present_columns(self) -> list[str]:
        """The columns for which at least one row has a time."""
        return [c for c in self.columns if any(t.get(c) is not None for _, t in self.rows)]

    def render(self) -> str:
        columns = self.present_columns()
        ratios = [(a, b) for a, b in self.ratios if a in columns and b in columns]
        header = ["workload", *columns, *(f"{a}/{b}" for a, b in ratios)]
        body = []
        for name, times in self.rows:
            cells = [name, *(format_time(times.get(c)) for c in columns)]
            cells += [format_ratio(times.get(a), times.get(b)) for a, b in ratios]
            body.append(cells)
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

        def line(cells: Sequence[str]) -> str:
            padded = [
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ]
            return "| " + " | ".join(padded) + " |"

        rule = (
            "|"
            + "|".join(
                "-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
            )
            + "|"
        )
        return "\n".join([f"### {self.title}", "", line(header), rule, *map(line, body)])


# ---------------------------------------------------------------------------------------
# Registry: each benchmark module registers its entry point when imported.
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    description: str
    run: Callable[[Settings], list[Table]]


_REGISTRY: dict[str, Benchmark] = {}


def register(name: str, description: str) -> Callable:
    """Decorator: ``@register("eager", "...")`` on ``run(settings) -> list[Table]``."""

    def decorate(run: Callable[[Settings], list[Table]]) -> Callable[[Settings], list[Table]]:
        if name in _REGISTRY and _REGISTRY[name].run is not run:
            raise ValueError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = Benchmark(name, description, run)
        return run

    return decorate


def registered() -> dict[str, Benchmark]:
    return dict(_REGISTRY)
