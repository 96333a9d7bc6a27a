"""What `/metrics` shows, in Prometheus's text format: the SDK's own metrics (Temporal's runtime telemetry, kept
in a buffer and drained on each scrape), every Temporal call this process makes (counted by a client
interceptor), and each web request's latency and Temporal calls by route. A page read from the store makes
no Temporal call; `renewals_http_temporal_calls_total` shows it stays so."""

import inspect
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Histogram as PromHistogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from temporalio.client import Interceptor, OutboundInterceptor
from temporalio.runtime import (
    BUFFERED_METRIC_KIND_COUNTER,
    BUFFERED_METRIC_KIND_GAUGE,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
)

# The Temporal calls of the request being served (the web middleware sets a fresh tally per request).
_calls_here: ContextVar[Counter[str] | None] = ContextVar("renewals_temporal_calls", default=None)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One process's metrics registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.temporal_calls = PromCounter(
            "renewals_temporal_calls", "Temporal client calls made by this process", ["call"], registry=self.registry
        )
        self.request_seconds = PromHistogram(
            "renewals_http_request_seconds",
            "Web request latency by route",
            ["method", "route", "status"],
            buckets=SECONDS,
            registry=self.registry,
        )
        self.request_temporal_calls = PromCounter(
            "renewals_http_temporal_calls",
            "Temporal calls made while serving a request, by route",
            ["method", "route"],
            registry=self.registry,
        )
        self.sdk: SdkMetrics | None = None

    def count_call(self, call: str) -> None:
        self.temporal_calls.labels(call).inc()
        tally = _calls_here.get()
        if tally is not None:
            tally[call] += 1

    def interceptor(self) -> Interceptor:
        return TemporalCalls(self.count_call)

    def with_sdk(self) -> Runtime:
        """A Temporal runtime whose metrics this registry shows (one per process: the client's)."""
        if self.sdk is None:
            self.sdk = SdkMetrics()
            self.registry.register(self.sdk)
        return self.sdk.runtime


class Tally:
    """The Temporal calls made within a `with` block (one web request)."""

    def __enter__(self) -> Counter[str]:
        self.calls: Counter[str] = Counter()
        self.token = _calls_here.set(self.calls)
        return self.calls

    def __exit__(self, *_exc: object) -> None:
        _calls_here.reset(self.token)


class TemporalCalls(Interceptor):
    """Counts every call of the Temporal client (start, query, signal, update, describe, list...)."""

    def __init__(self, count: Callable[[str], None]) -> None:
        self.count = count

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Counting(next, self.count)


class _Counting(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, count: Callable[[str], None]) -> None:
        super().__init__(next)
        self._count = count


def _counted(name: str, base: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(base):

        async def call(self: _Counting, input: Any) -> Any:
            self._count(name)
            return await base(self, input)

    else:

        def call(self: _Counting, input: Any) -> Any:  # type: ignore[misc]  # the listing calls: iterators
            self._count(name)
            return base(self, input)

    return call


for _name, _base in vars(OutboundInterceptor).items():
    if not _name.startswith("_") and callable(_base):
        setattr(_Counting, _name, _counted(_name, _base))


class SdkMetrics:
    """The SDK's metrics through a buffer: counters summed, gauges' last value, histograms in buckets (seconds)."""

    def __init__(self) -> None:
        self.buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
        self.runtime = Runtime(telemetry=TelemetryConfig(metrics=self.buffer))
        self.lock = threading.Lock()
        self.kinds: dict[str, tuple[int, str]] = {}  # name: (kind, description)
        self.values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self.histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}  # bucket counts, sum

    def drain(self) -> None:
        with self.lock:
            for update in self.buffer.retrieve_updates():
                metric = update.metric
                self.kinds[metric.name] = (metric.kind, metric.description or metric.name)
                key = (metric.name, tuple(sorted((k, str(v)) for k, v in update.attributes.items())))
                if metric.kind == BUFFERED_METRIC_KIND_COUNTER:
                    self.values[key] = self.values.get(key, 0.0) + update.value
                elif metric.kind == BUFFERED_METRIC_KIND_GAUGE:
                    self.values[key] = float(update.value)
                else:
                    counts = self.histograms.setdefault(key, [0.0] * (len(SECONDS) + 2))
                    for i, bound in enumerate(SECONDS):
                        if update.value <= bound:
                            counts[i] += 1
                    counts[-2] += 1  # +Inf
                    counts[-1] += update.value

    def collect(self) -> Iterator[Metric]:
        self.drain()
        with self.lock:
            for name, (kind, description) in sorted(self.kinds.items()):
                labelled = [(dict(labels), v) for (n, labels), v in self.values.items() if n == name]
                if kind == BUFFERED_METRIC_KIND_COUNTER:
                    names = _labels(labelled)
                    family: Metric = CounterMetricFamily(name, description, labels=names)
                elif kind == BUFFERED_METRIC_KIND_GAUGE:
                    names = _labels(labelled)
                    family = GaugeMetricFamily(name, description, labels=names)
                else:
                    histograms = self._histograms(name)
                    names = _labels(histograms)
                    family = HistogramMetricFamily(name, description, labels=names)
                    for labels, counts in histograms:
                        buckets = [(str(b), counts[i]) for i, b in enumerate(SECONDS)] + [("+Inf", counts[-2])]
                        family.add_metric([labels.get(k, "") for k in names], buckets, counts[-1])
                    yield family
                    continue
                for labels, value in labelled:
                    family.add_metric([labels.get(k, "") for k in names], value)  # type: ignore[attr-defined]
                yield family

    def _histograms(self, name: str) -> list[tuple[dict[str, str], list[float]]]:
        return [(dict(labels), counts) for (n, labels), counts in self.histograms.items() if n == name]


def _labels(rows: list[tuple[dict[str, str], Any]]) -> list[str]:
    """Every label any of the metric's series has (one family, one set of label names)."""
    return sorted({name for labels, _ in rows for name in labels})
