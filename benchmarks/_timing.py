"""Timing and reporting helpers shared by the benchmark modules.

``measure`` times a zero-argument callable the way ``timeit`` does: it picks a number of
calls per sample so that one sample lasts at least ``min_sample`` seconds (autorange),
takes ``repeat`` samples and reports the median time of one call. The median rather
than the minimum is reported because these are per-call *overheads* of a few
microseconds, where the minimum flatters whichever library got one lucky sample.

``measure_all`` does this for the calls of several libraries at once and takes their
samples in turns, so that load from other processes, which comes in bursts on a shared
machine, weighs on all of them alike and their ratio stays meaningful.

A workload whose single call takes seconds (an interpreted loop, say) would make that
scheme take minutes, so ``Settings.budget`` caps the seconds spent on the samples of one
measurement: past it, fewer samples are taken (at least one, after the warm-up call).

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
DEFAULT_BUDGET = 10.0


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to measure, and how big the problems are.

    Attributes:
        repeat: samples per measurement (the median is reported).
        min_sample: the shortest a sample may be, in seconds (autorange).
        budget: the most seconds the samples of one measurement may take; a slow call
            gets fewer samples (at least one).
        small: run the small problem sizes of each workload (the ``--quick`` smoke test),
            so that every benchmark finishes in seconds.
    """

    repeat: int = DEFAULT_REPEAT
    min_sample: float = DEFAULT_MIN_SAMPLE
    budget: float = DEFAULT_BUDGET
    small: bool = False

    @classmethod
    def quick(cls) -> Settings:
        return cls(repeat=3, min_sample=0.001, budget=1.0, small=True)


def _autorange(fn: Callable[[], object], settings: Settings) -> tuple[int, float]:
    """Calls per sample so that a sample lasts ``min_sample``, and that first sample's time."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= settings.min_sample or number >= 1 << 20:
            return number, elapsed
        number *= 2 if elapsed <= 0 else max(2, min(10, int(settings.min_sample / elapsed) + 1))


def _sample(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def measure_all(calls: dict[str, Callable[[], object]], settings: Settings) -> dict[str, float]:
    """Median seconds per call of each named call: ``{name: seconds}``.

    Every call is warmed up (first-call tracing, caches, lazy imports) and autoranged,
    then the samples are taken round-robin, one of each call per round, so that a burst
    of load from elsewhere slows every library of a row alike rather than the one being
    timed at that moment. The rounds stop at ``settings.repeat`` or when the next one
    would overrun ``settings.budget``.
    """
    numbers: dict[str, int] = {}
    samples: dict[str, list[float]] = {}
    for name, fn in calls.items():
        fn()
        numbers[name], elapsed = _autorange(fn, settings)
        samples[name] = [elapsed / numbers[name]]
    round_seconds = sum(samples[name][0] * numbers[name] for name in calls)
    rounds = settings.repeat
    if round_seconds * rounds > settings.budget:
        rounds = max(1, int(settings.budget / round_seconds))
    for _ in range(rounds - 1):
        for name, fn in calls.items():
            samples[name].append(_sample(fn, numbers[name]))
    return {name: statistics.median(times) for name, times in samples.items()}


def measure(fn: Callable[[], object], settings: Settings = Settings()) -> float:
    """Median seconds per call of ``fn`` over ``settings.repeat`` autoranged samples."""
    return measure_all({"fn": fn}, settings)["fn"]


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
    """``0.22x`` / ``3.14x`` / ``412.4x``: two decimals below 10, where the goals lie."""
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    ratio = numerator / denominator
    return f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


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


def versus_table(title: str) -> Table:
    """The usual table: fxgrad against NumPy, JAX and PyTorch, with fxgrad's ratios to each.

    A library that is not installed, or that a workload does not time, has no column.
    """
    return Table(
        title,
        ["fxgrad", "numpy", "jax", "torch"],
        ratios=[("fxgrad", "jax"), ("fxgrad", "numpy"), ("fxgrad", "torch")],
    )


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
