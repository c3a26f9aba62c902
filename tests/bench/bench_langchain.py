"""How many µs LangChain instrumentation adds per ``invoke`` of prompt | ChatOpenAI | parser.

    python tests/bench/bench_langchain.py [--quick] [--subjects a,b] [--pairs N] [--calls N]

Subjects: spanmeter (its LangChain and openai instrumentors, as ``opentelemetry-instrument``
loads them, with SpanmeterProcessor), OpenLLMetry's ``opentelemetry-instrumentation-langchain``
and ``openinference-instrumentation-langchain`` (each with a BatchSpanProcessor). The chain
is the same for all: the real ChatOpenAI and openai SDK over an in-memory transport with a
real-shaped response (``support.langchain_fakes``). As in ``bench_llm_overhead.py``, each
subject runs in a fresh subprocess, alternating uninstrumented (A) and instrumented (B)
blocks in ABBA order; a figure is the median of paired (B - A) block medians, with its IQR.

Completeness: of ``bench_llm_overhead.KEY_ATTRIBUTES``, how many the invoke's LLM span
carries (the span with token usage; ``priced spans`` counts the spans carrying usage per
invoke: more than one would be counted twice by a cost pipeline).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the support package

from bench_llm_overhead import KEY_ATTRIBUTES, CountingExporter, _block, _quartiles
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

USAGE = "gen_ai.usage.input_tokens"
SUBJECTS: dict[str, tuple[tuple[str, str], ...]] = {
    "spanmeter langchain": (
        ("spanmeter.instrumentation.openai", "OpenAIInstrumentor"),
        ("spanmeter.instrumentation.langchain", "LangChainInstrumentor"),
    ),
    "OpenLLMetry langchain": (("opentelemetry.instrumentation.langchain", "LangchainInstrumentor"),),
    "OpenInference langchain": (("openinference.instrumentation.langchain", "LangChainInstrumentor"),),
}
"""Subject -> the instrumentors (module, class) it turns on, in order."""


def _switches(name: str, provider: TracerProvider) -> tuple[Callable[[], None], Callable[[], None]]:
    import importlib

    instrumentors = [getattr(importlib.import_module(module), cls)() for module, cls in SUBJECTS[name]]

    def on() -> None:
        for instrumentor in instrumentors:
            instrumentor.instrument(tracer_provider=provider)

    def off() -> None:
        for instrumentor in reversed(instrumentors):
            instrumentor.uninstrument()

    return on, off


def _chain() -> Callable[[], object]:
    from bench import llm_fakes
    from support import openai_fakes
    from support.langchain_fakes import chat_model, small_chain

    chain = small_chain(chat_model(openai_fakes.server(llm_fakes.openai_chat_body())))
    return lambda: chain.invoke({"question": "Summarise the incident report."})


class _KeepingExporter(CountingExporter):
    """Also keeps what was exported since the last ``clear()``: the shape of an invoke's spans."""

    def __init__(self) -> None:
        super().__init__()
        self.kept: list = []

    def export(self, spans):
        self.kept.extend(spans)
        return super().export(spans)


def run_subject(name: str, pairs: int, calls: int) -> dict:
    """Measure one subject in this process; a JSON-able result."""
    exporter = _KeepingExporter()
    provider = TracerProvider()
    if name.startswith("spanmeter"):
        from spanmeter.processing import SpanmeterProcessor

        provider.add_span_processor(SpanmeterProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    on, off = _switches(name, provider)
    invoke = _chain()

    def exported_by(n: int) -> list:
        provider.force_flush()
        exporter.kept = []
        for _ in range(n):
            invoke()
        provider.force_flush()
        return exporter.kept

    on()
    exported_by(3)  # warm up; then probe that uninstrument() really stops the spans
    off()
    leaky = bool(exported_by(2))
    order = "A" * pairs + "B" * pairs if leaky else "".join("AB" if i % 2 == 0 else "BA" for i in range(pairs))
    a_ns: list[float] = []
    b_ns: list[float] = []
    state = ""
    for label in order:
        if label != state:
            (on if label == "B" else off)()
            state = label
            for _ in range(3):
                invoke()
        (b_ns if label == "B" else a_ns).append(_block(lambda _: invoke(), None, calls))
    if state != "B":
        on()
    spans = exported_by(calls)
    off()
    provider.shutdown()

    llm = [span for span in spans if USAGE in (span.attributes or {})]
    q1, median, q3 = _quartiles([(b - a) / 1000 for a, b in zip(a_ns, b_ns)])
    return {
        "name": name,
        "leaky": leaky,
        "added_us": median,
        "iqr_us": q3 - q1,
        "base_us": statistics.median(a_ns) / 1000,
        "spans_per_invoke": len(spans) / calls,
        "priced_spans_per_invoke": len(llm) / calls,
        "llm_keys": sorted({key for span in llm for key in span.attributes or {}}),
    }


def _in_subprocess(name: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--subject", name, "--pairs", str(args.pairs), "--calls", str(args.calls)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit {done.returncode}"]
        return {"name": name, "error": lines[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(results: list[dict], args: argparse.Namespace) -> str:
    head = f"{'instrumentation':<26} {'added µs':>9} {'IQR':>7} {'base µs':>8} {'spans':>5} {'priced':>6}  complete"
    lines = [f"{args.pairs} A/B block pairs x {args.calls} invokes per block; Python {sys.version.split()[0]}",
             head, "-" * len(head)]  # fmt: skip
    for result in results:
        if "error" in result:
            lines.append(f"{result['name']:<26} not measured: {result['error']}")
            continue
        present = [key for key in KEY_ATTRIBUTES if key in result["llm_keys"]]
        note = "  (uninstrument() leaks: all A blocks first)" if result["leaky"] else ""
        lines.append(
            f"{result['name']:<26} {result['added_us']:>9.1f} {result['iqr_us']:>7.1f} {result['base_us']:>8.1f} "
            f"{result['spans_per_invoke']:>5.2f} {result['priced_spans_per_invoke']:>6.2f}  "
            f"{len(present)}/{len(KEY_ATTRIBUTES)}{note}"
        )
        missing = [key for key in KEY_ATTRIBUTES if key not in result["llm_keys"]]
        if missing:
            lines.append(f"{'':<28}LLM span lacks {', '.join(missing)}")
    lines.append("")
    lines.append("added µs per invoke: median of paired (B - A) block medians; spans / priced: per invoke;")
    lines.append("complete: key attributes on the LLM span, of " + ", ".join(KEY_ATTRIBUTES))
    lines.append("(OpenInference writes its own names, llm.token_count.* etc., which GenAI-convention readers skip)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks")
    parser.add_argument("--pairs", type=int, help="A/B block pairs per subject")
    parser.add_argument("--calls", type=int, help="invokes per block")
    parser.add_argument("--subjects", help="comma-separated subset of: " + ", ".join(SUBJECTS))
    parser.add_argument("--subject", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.pairs = args.pairs or (6 if args.quick else 20)
    args.calls = args.calls or (20 if args.quick else 100)
    if args.subject:
        print(json.dumps(run_subject(args.subject, args.pairs, args.calls)))
        return 0
    names = args.subjects.split(",") if args.subjects else list(SUBJECTS)
    unknown = set(names) - set(SUBJECTS)
    if unknown:
        parser.error(f"unknown subjects: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    print(table([_in_subprocess(name, args) for name in names], args))
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
