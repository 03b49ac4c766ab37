"""Statistics over result rows: percentiles, throughput over time, errors by reply code,
and the fixed totals line a run ends with."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from .results import ResultRow


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (the value below which ``fraction`` of samples fall)."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Percentiles:
    count: int
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        ordered = sorted(values)
        mean = sum(ordered) / len(ordered) if ordered else math.nan
        return cls(len(ordered), percentile(ordered, 0.50), percentile(ordered, 0.95),
                   percentile(ordered, 0.99), ordered[-1] if ordered else math.nan, mean)


@dataclass(frozen=True)
class Bucket:
    """One second of the run."""

    second: int  # since the start of the run
    ok: int
    errors: int
    p50_ms: float
    p95_ms: float


@dataclass
class Summary:
    started: float
    ended: float
    requests: dict[str, Percentiles]  # by row name, latencies of successful requests
    counts: dict[str, tuple[int, int]]  # name -> (ok, errors)
    errors_by_code: dict[str, int]  # "550" / "-ERR" / "" (no reply: connection errors)
    error_samples: dict[str, str]  # code -> the first error text seen with it
    timeline: list[Bucket]
    histogram: list[tuple[float, float, int]] = field(default_factory=list)  # lo, hi, count
    primary: str = "smtp:message"

    @property
    def seconds(self) -> float:
        return max(self.ended - self.started, 1e-9)

    def rate(self, name: str | None = None) -> float:
        wanted = name or self.primary
        ok = sum(ok for key, (ok, _) in self.counts.items() if is_primary(key, wanted))
        return ok / self.seconds


def is_primary(name: str, primary: str) -> bool:
    """``primary`` names one request (``smtp:message``) or, ending in ``:``, a family
    (``transcript:``: every case of a transcript run)."""
    return name == primary or (primary.endswith(":") and name.startswith(primary))


def _histogram(values: Sequence[float], bins: int = 30) -> list[tuple[float, float, int]]:
    """Log-spaced bins: latencies span orders of magnitude, linear bins hide the tail."""
    positive = [v for v in values if v > 0]
    if not positive:
        return []
    low, high = min(positive), max(positive)
    if high <= low * 1.0001:
        return [(low, high, len(positive))]
    edges = [low * (high / low) ** (i / bins) for i in range(bins + 1)]
    counts = [0] * bins
    scale = bins / math.log(high / low)
    for value in positive:
        index = min(int(math.log(value / low) * scale), bins - 1)
        counts[index] += 1
    return [(edges[i], edges[i + 1], counts[i]) for i in range(bins)]


def summarize(rows: Sequence[ResultRow], started: float, ended: float,
              primary: str = "smtp:message") -> Summary:
    latencies: dict[str, list[float]] = defaultdict(list)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    errors: Counter[str] = Counter()
    samples: dict[str, str] = {}
    per_second: dict[int, list[float]] = defaultdict(list)
    errors_per_second: Counter[int] = Counter()
    for row in rows:
        second = max(0, int(row.timestamp - started))
        if row.ok:
            latencies[row.name].append(row.latency_ms)
            counts[row.name][0] += 1
            if is_primary(row.name, primary):
                per_second[second].append(row.latency_ms)
        else:
            counts[row.name][1] += 1
            errors[row.code] += 1
            samples.setdefault(row.code, f"{row.name}: {row.error}")
            errors_per_second[second] += 1
    last = int(max(ended - started, 0))
    timeline = []
    for second in range(last + 1):
        values = sorted(per_second.get(second, []))
        timeline.append(Bucket(second, len(values), errors_per_second.get(second, 0),
                               percentile(values, 0.5), percentile(values, 0.95)))
    return Summary(
        started=started, ended=ended,
        requests={name: Percentiles.of(values) for name, values in sorted(latencies.items())},
        counts={name: (ok, err) for name, (ok, err) in sorted(counts.items())},
        errors_by_code=dict(errors.most_common()), error_samples=samples,
        timeline=timeline, primary=primary,
        histogram=_histogram([v for name, values in latencies.items()
                              if is_primary(name, primary) for v in values]),
    )


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def totals_line(sent: int, accepted: int, lost: int, duplicated: int, corrupted: int,
                rate: float, latency: Percentiles) -> str:
    """The fixed form every run ends with (parsed by scripts, so do not change it)."""
    return (f"sent {sent}  accepted {accepted}  lost {lost}  duplicated {duplicated}  "
            f"corrupted {corrupted}  {rate:.0f} msg/s  p50 {_ms(latency.p50)} ms  "
            f"p95 {_ms(latency.p95)} ms  p99 {_ms(latency.p99)} ms")
