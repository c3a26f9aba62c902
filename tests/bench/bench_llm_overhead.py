"""How many µs an instrumented LLM call adds over the bare SDK: spanmeter beside its peers.

    python tests/bench/bench_llm_overhead.py [--quick] [--subjects a,b] [--pairs N] [--calls N] [--clock cpu]

Each subject (an instrumentation and its span processor) runs in a fresh
subprocess, so one that patches badly cannot touch the next. Inside it, blocks
of calls alternate uninstrumented (A) / instrumented (B) in ABBA order, always
with the same real SDK client over an in-memory transport (``llm_fakes``). A
figure is the median over block pairs of (median call time in B - in A), with the
IQR of those differences: no number is compared across processes, which is
what keeps it stable on a noisy machine.

Every processor exports to a no-op exporter that only counts. ``bg µs`` is the
time ``force_flush`` takes after a B block, per call: the batch worker's share
(spanmeter's pricing and flags happen there), off the app's thread.
Instrumentors whose ``uninstrument()`` leaves spans behind are reported and
measured with all A blocks before the first ``instrument()``.

``--clock cpu`` times each call in CPU time of the calling thread instead of wall
time: on a shared machine, time other processes take does not land in either
block. Below the table, spanmeter's added µs are divided by the peer's
(:data:`PEERS`), per call kind, from this same run.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import importlib
import itertools
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import llm_fakes
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

TARGETS_US = {"chat": 60, "stream": 100}
"""spanmeter's budget per call (issue 4): non-streaming, and a 15-chunk stream."""
PEERS = {"spanmeter openai": ("official openai-v2", "official openai-v2 (SDK metrics)")}
"""spanmeter's subject -> the best peer it is compared with (issue 19: at most 0.5x its added µs), bare
and with its metrics recorded into an SDK MeterProvider."""
TARGET_PEER_RATIO = 0.5
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}

KEY_ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.provider.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.response.finish_reasons",
    "spanmeter.cost.usd",
)
"""What a GenAI span needs for spanmeter's purposes: the completeness column counts these."""


class CountingExporter(SpanExporter):
    """Exports nowhere; remembers how many spans came and the last batch, for the table."""

    def __init__(self) -> None:
        self.count = 0
        self.last: Sequence[ReadableSpan] = ()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        self.last = spans
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


Switch = Callable[[], object]
"""Turns instrumentation on or off and returns the client (or tracer) the next block calls."""


@dataclasses.dataclass(frozen=True)
class Subject:
    sdk: str  # "openai", "anthropic" or "span"
    build: Callable[[TracerProvider], tuple[Switch, Switch]]  # provider -> (on, off)
    spanmeter_processing: bool = False


def _instrumentor(sdk: str, module: str, cls: str, **kwargs) -> Callable[[TracerProvider], tuple[Switch, Switch]]:
    """on/off = ``instrument(tracer_provider=...)`` / ``uninstrument()`` of ``module.cls``, one client throughout."""

    def build(provider: TracerProvider) -> tuple[Switch, Switch]:
        instrumentor = getattr(importlib.import_module(module), cls)()
        client = getattr(llm_fakes, f"{sdk}_client")()

        def on() -> object:
            instrumentor.instrument(tracer_provider=provider, **kwargs)
            return client

        def off() -> object:
            instrumentor.uninstrument()
            return client

        return on, off

    return build


def _anthropic_own_span(provider: TracerProvider) -> tuple[Switch, Switch]:
    """The SDK's own span is per client: ``open_telemetry={"tracer_provider": ...}`` on, ``False`` off."""
    with_span = llm_fakes.anthropic_client(open_telemetry={"tracer_provider": provider})
    without = llm_fakes.anthropic_client()
    return (lambda: with_span), (lambda: without)


def _bare_span(provider: TracerProvider) -> tuple[Switch, Switch]:
    tracer = provider.get_tracer("bench")
    return (lambda: tracer), (lambda: trace.NoOpTracer())


def _span_with_five_attributes(tracer: trace.Tracer) -> None:
    with tracer.start_as_current_span("chat gpt-4o-mini") as span:
        span.set_attributes({
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1200,
            "gen_ai.usage.output_tokens": 350,
        })  # fmt: skip


def _openai_v2_with_sdk_metrics(provider: TracerProvider) -> tuple[Switch, Switch]:
    """The peer as deployed with metrics on: its duration and token histograms go to an SDK
    MeterProvider on the app's thread (spanmeter records its own in the batch worker)."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    build = _instrumentor(
        "openai", "opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor", meter_provider=meter_provider
    )
    return build(provider)


_SPANMETER_OPENAI = ("openai", "spanmeter.instrumentation.openai", "OpenAIInstrumentor")
_SPANMETER_ANTHROPIC = ("anthropic", "spanmeter.instrumentation.anthropic", "AnthropicInstrumentor")

SUBJECTS: dict[str, Subject] = {
    "bare SDK span (5 attrs)": Subject("span", _bare_span),
    "spanmeter openai": Subject("openai", _instrumentor(*_SPANMETER_OPENAI), spanmeter_processing=True),
    "spanmeter openai (plain BSP)": Subject("openai", _instrumentor(*_SPANMETER_OPENAI)),
    "official openai-v2": Subject(
        "openai", _instrumentor("openai", "opentelemetry.instrumentation.openai_v2", "OpenAIInstrumentor")
    ),
    "official openai-v2 (SDK metrics)": Subject("openai", _openai_v2_with_sdk_metrics),
    "OpenInference openai": Subject(
        "openai", _instrumentor("openai", "openinference.instrumentation.openai", "OpenAIInstrumentor")
    ),
    "OpenLLMetry openai": Subject(
        "openai", _instrumentor("openai", "opentelemetry.instrumentation.openai", "OpenAIInstrumentor")
    ),
    "spanmeter anthropic": Subject("anthropic", _instrumentor(*_SPANMETER_ANTHROPIC), spanmeter_processing=True),
    "spanmeter anthropic (plain BSP)": Subject("anthropic", _instrumentor(*_SPANMETER_ANTHROPIC)),
    "anthropic SDK's own span": Subject("anthropic", _anthropic_own_span),
    "OpenInference anthropic": Subject(
        "anthropic", _instrumentor("anthropic", "openinference.instrumentation.anthropic", "AnthropicInstrumentor")
    ),
    "OpenLLMetry anthropic": Subject(
        "anthropic", _instrumentor("anthropic", "opentelemetry.instrumentation.anthropic", "AnthropicInstrumentor")
    ),
}

CALLS = {**llm_fakes.CALLS, "span": {"span": _span_with_five_attributes}}


def _block(
    call: Callable[[object], object], target: object, calls: int, clock: Callable[[], int] = time.perf_counter_ns
) -> float:
    """Median ns of one call over a block."""
    gc.collect()
    times = []
    for _ in range(calls):
        start = clock()
        call(target)
        times.append(clock() - start)
    return statistics.median(times)


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


class _Blocks:
    """Timed blocks of calls, uninstrumented (A) and instrumented (B), per call kind."""

    def __init__(self, provider: TracerProvider, exporter: CountingExporter, kinds: dict[str, Callable], calls: int,
                 clock: Callable[[], int] = time.perf_counter_ns):  # fmt: skip
        self.provider, self.exporter, self.kinds, self.calls, self.clock = provider, exporter, kinds, calls, clock
        self.a_ns: dict[str, list[float]] = {kind: [] for kind in kinds}
        self.b_ns: dict[str, list[float]] = {kind: [] for kind in kinds}
        self.flush_ns: dict[str, list[float]] = {kind: [] for kind in kinds}
        self.b_spans = dict.fromkeys(kinds, 0)
        self.shape: dict[str, tuple[float, list[str]]] = {}

    def spans_of(self, call: Callable, target: object, n: int) -> float:
        """Spans exported per call for ``n`` calls of ``call`` on ``target``."""
        self.provider.force_flush()
        before = self.exporter.count
        for _ in range(n):
            call(target)
        self.provider.force_flush()
        return (self.exporter.count - before) / n

    def block_a(self, target: object) -> None:
        for kind, call in self.kinds.items():
            self.a_ns[kind].append(_block(call, target, self.calls, self.clock))

    def block_b(self, target: object) -> None:
        """Also times the flush (the worker's share) and notes the spans' shape."""
        for kind, call in self.kinds.items():
            self.provider.force_flush()
            before = self.exporter.count
            self.b_ns[kind].append(_block(call, target, self.calls, self.clock))
            start = time.perf_counter_ns()
            self.provider.force_flush()
            self.flush_ns[kind].append((time.perf_counter_ns() - start) / self.calls)
            self.b_spans[kind] += self.exporter.count - before
            last = self.exporter.last
            attributes = [span.attributes or {} for span in last]
            self.shape[kind] = (
                statistics.fmean(map(len, attributes)) if last else 0.0,
                sorted({key for keys in attributes for key in keys}),
            )

    def run(self, order: str, on: Callable[[], object], off: Callable[[], object]) -> None:
        """Blocks in ``order``; switches instrumentation only on a change (each switch of a leaky
        instrumentor stacks wrappers) and warms each path up before its first block."""
        state, target, warmed = "", None, set()
        for label in order:
            if label != state:
                target, state = (on if label == "B" else off)(), label
            if label not in warmed:
                warmed.add(label)
                for call in self.kinds.values():
                    for _ in range(max(3, self.calls // 5)):
                        call(target)
            (self.block_b if label == "B" else self.block_a)(target)

    def rows(self, pairs: int) -> list[dict]:
        rows = []
        for kind in self.kinds:
            diffs = [(b - a) / 1000 for a, b in zip(self.a_ns[kind], self.b_ns[kind])]
            q1, median, q3 = _quartiles(diffs)
            attrs, keys = self.shape[kind]
            rows.append({
                "call": kind,
                "added_us": median,
                "iqr_us": q3 - q1,
                "base_us": statistics.median(self.a_ns[kind]) / 1000,
                "bg_us": statistics.median(self.flush_ns[kind]) / 1000,
                "spans_per_call": self.b_spans[kind] / (pairs * self.calls),
                "attrs_per_span": attrs,
                "keys": keys,
            })  # fmt: skip
        return rows


def run_subject(name: str, pairs: int, calls: int, sequential: bool = False, clock: str = "wall") -> dict:
    """Measure one subject in this process; returns a JSON-able result (``leaky`` aborts early)."""
    subject = SUBJECTS[name]
    exporter = CountingExporter()
    provider = TracerProvider()
    if subject.spanmeter_processing:
        from spanmeter.processing import SpanmeterProcessor

        provider.add_span_processor(SpanmeterProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    on, off = subject.build(provider)
    blocks = _Blocks(provider, exporter, CALLS[subject.sdk], calls, CLOCKS[clock])
    first = next(iter(blocks.kinds.values()))
    if not sequential:
        # Probe: does uninstrument() really stop the spans? If not, interleaving would lie.
        blocks.spans_of(first, on(), 1)
        if blocks.spans_of(first, off(), 2):
            return {"name": name, "leaky": True}

    if sequential:
        order = "A" * pairs + "B" * pairs
    else:
        order = "".join("AB" if i % 2 == 0 else "BA" for i in range(pairs))
    blocks.run(order, on, off)
    stray = blocks.spans_of(first, off(), 2)
    provider.shutdown()
    return {"name": name, "leaky": sequential, "stray_spans_per_call": stray, "rows": blocks.rows(pairs)}


def _in_subprocess(name: str, args: argparse.Namespace, sequential: bool = False) -> dict:
    command = [sys.executable, __file__, "--subject", name, "--pairs", str(args.pairs), "--calls", str(args.calls),
               "--clock", args.clock]  # fmt: skip
    if sequential:
        command.append("--sequential")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        return {"name": name, "error": lines[-1]}
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result.get("leaky") and not sequential:
        return _in_subprocess(name, args, sequential=True)
    return result


def _table(results: list[dict], args: argparse.Namespace) -> str:
    head = f"{'instrumentation':<40} {'call':<7} {'added µs':>9} {'IQR':>7} {'bg µs':>6} {'base µs':>8} " \
           f"{'spans':>5} {'attrs':>5}  key attrs  note"  # fmt: skip
    lines = [(f"{args.pairs} A/B block pairs x {args.calls} calls per block, {args.clock} time; "
              f"Python {sys.version.split()[0]}"), head,
             "-" * len(head)]  # fmt: skip
    missing: dict[str, set[str]] = {}
    for result in results:
        name = result["name"]
        if "error" in result:
            lines.append(f"{name:<40} not measured: {result['error']}")
            continue
        for row in result["rows"]:
            keys = set(row["keys"])
            present = [key for key in KEY_ATTRIBUTES if key in keys]
            missing[f"{name}, {row['call']}"] = set(KEY_ATTRIBUTES) - keys
            notes = []
            if result["leaky"]:
                notes.append(
                    f"uninstrument() leaks ({result['stray_spans_per_call']:.2f} spans/call after); A before B"
                )
            if name.startswith("spanmeter") and row["call"] in TARGETS_US:
                target = TARGETS_US[row["call"]]
                notes.append(f"target <= {target}: {'ok' if row['added_us'] <= target else 'OVER'}")
            lines.append(
                f"{name:<40} {row['call']:<7} {row['added_us']:>9.1f} {row['iqr_us']:>7.1f} {row['bg_us']:>6.1f} "
                f"{row['base_us']:>8.1f} {row['spans_per_call']:>5.2f} {row['attrs_per_span']:>5.1f}  "
                f"{len(present)}/{len(KEY_ATTRIBUTES)}        {'; '.join(notes)}"
            )
    lines.append("")
    lines.append("added µs: median of paired (B - A) block medians; IQR of those differences; bg µs: batch worker")
    lines.append(
        "time per call (force_flush after B); base µs: the uninstrumented call; key attrs: of "
        + ", ".join(KEY_ATTRIBUTES)
    )
    for name, keys in missing.items():
        if keys and not name.startswith("bare"):
            lines.append(f"  {name} lacks {', '.join(key for key in KEY_ATTRIBUTES if key in keys)}")
    lines.extend(_peer_ratios(results))
    return "\n".join(lines)


def _peer_ratios(results: list[dict]) -> list[str]:
    """spanmeter's added µs / its peer's, per call kind, for the pairs measured in this run."""
    rows = {(result["name"], row["call"]): row["added_us"] for result in results for row in result.get("rows", ())}
    lines = []
    for ours, peers in PEERS.items():
        for peer, (name, call) in itertools.product(peers, list(rows)):
            added = rows[(name, call)]
            theirs = rows.get((peer, call))
            if name != ours or theirs is None:
                continue
            if theirs <= 0:
                lines.append(f"{ours} / {peer}, {call}: not measurable (the peer added {theirs:.1f} µs: noise)")
                continue
            ratio = added / theirs
            verdict = "ok" if ratio <= TARGET_PEER_RATIO else "OVER"
            lines.append(f"{ours} / {peer}, {call}: {ratio:.2f}x the peer's added µs "
                         f"(target <= {TARGET_PEER_RATIO}: {verdict})")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks (under a minute)")
    parser.add_argument("--pairs", type=int, help="A/B block pairs per subject")
    parser.add_argument("--calls", type=int, help="calls per block")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="time calls by wall clock or by the calling thread's CPU time")  # fmt: skip
    parser.add_argument("--subjects", help="comma-separated subset of: " + ", ".join(SUBJECTS))
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    parser.add_argument("--sequential", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.pairs = args.pairs or (6 if args.quick else 30)
    args.calls = args.calls or (20 if args.quick else 100)
    if args.subject:
        print(json.dumps(run_subject(args.subject, args.pairs, args.calls, args.sequential, args.clock)))
        return 0
    names = args.subjects.split(",") if args.subjects else list(SUBJECTS)
    unknown = set(names) - set(SUBJECTS)
    if unknown:
        parser.error(f"unknown subjects: {', '.join(sorted(unknown))}")
    print(_table([_in_subprocess(name, args) for name in names], args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
