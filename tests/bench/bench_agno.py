"""How many µs spanmeter adds to an Agno ``Agent.run``, beside ``openinference-instrumentation-agno``.

    python tests/bench/bench_agno.py [--pairs N] [--runs N] [--subjects a,b]

The run: one agent, one tool call, two model calls through the real openai SDK over an
in-memory transport (``support.scripted_llm``), no storage. Each subject runs in a fresh
subprocess (OpenInference's patches cannot be undone in place); inside it, blocks of runs
alternate uninstrumented (A) / instrumented (B) in ABBA order, and a figure is the median
over block pairs of (median run time in B - in A), with the IQR of those differences. Run
time is the app thread's CPU time (``time.thread_time``): other processes on a shared
machine do not count, and the span processor's worker thread is not the app's cost.

Subjects: ``spanmeter`` (spanmeter's Agno and openai instrumentation: the run, the tool and
the openai call spans), ``openinference`` (what Agno's ``setup_tracing`` installs: run, model
and tool spans). Both export through a BatchSpanProcessor to an exporter that only counts;
spanmeter's pricing happens later in its processor's worker thread and is not timed here.
``semconv attrs`` counts which of the GenAI conventions' key attributes one run's spans carry;
``usage`` says whether token counts appear under any name (OpenInference writes its own).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script: tests/ holds `support`

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SUBJECTS = ("spanmeter", "openinference")
KEY_ATTRIBUTES = (
    "gen_ai.operation.name", "gen_ai.agent.name", "gen_ai.conversation.id", "gen_ai.tool.name",
    "gen_ai.tool.call.id", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model",
    "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
)  # fmt: skip
_USAGE_NAMES = ("gen_ai.usage.input_tokens", "llm.token_count.prompt")


def _instrumentors(subject: str, provider: TracerProvider) -> tuple:
    if subject == "spanmeter":
        from spanmeter.instrumentation.agno import AgnoInstrumentor
        from spanmeter.instrumentation.openai import OpenAIInstrumentor

        return (OpenAIInstrumentor(), AgnoInstrumentor())
    if subject == "openinference":
        from openinference.instrumentation.agno import AgnoInstrumentor

        return (AgnoInstrumentor(),)
    raise ValueError(f"unknown subject {subject!r}; known: {', '.join(SUBJECTS)}")


def _block(agent, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.thread_time()
        agent.run("Weather in Paris?")
        times.append(time.thread_time() - start)
    return statistics.median(times) * 1e6


def _completeness(spans) -> tuple[int, bool]:
    present = {key for span in spans for key in span.attributes}
    return sum(key in present for key in KEY_ATTRIBUTES), any(name in present for name in _USAGE_NAMES)


def run_subject(subject: str, pairs: int, runs: int) -> dict:
    """Measure one subject in this process (call it in a fresh one: instrumenting is process-wide)."""
    from support import agno_apps

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    instrumentors = _instrumentors(subject, provider)
    agent, _ = agno_apps.tool_agent()

    def switch(on: bool) -> None:
        for instrumentor in instrumentors:
            if on:
                instrumentor.instrument(tracer_provider=provider)
            else:
                instrumentor.uninstrument()

    _block(agent, runs)  # warm-up: imports, caches
    added, base = [], []
    for pair in range(pairs):
        order = (False, True, True, False) if pair % 2 == 0 else (True, False, False, True)
        medians = {False: [], True: []}
        for on in order:
            if on:
                switch(True)
            medians[on].append(_block(agent, runs))
            if on:
                switch(False)
        added.append(statistics.mean(medians[True]) - statistics.mean(medians[False]))
        base.append(statistics.mean(medians[False]))
    provider.force_flush()
    exporter.clear()
    switch(True)
    agent.run("Weather in Paris?")
    switch(False)
    provider.force_flush()
    spans = exporter.get_finished_spans()
    found, usage = _completeness(spans)
    quartiles = statistics.quantiles(added, n=4) if len(added) > 1 else [added[0]] * 3
    return {"subject": subject, "added_us": statistics.median(added), "iqr_us": quartiles[2] - quartiles[0],
            "base_us": statistics.median(base),
            "spans_per_run": len(spans), "semconv_attrs": found, "usage": usage}  # fmt: skip


def _in_subprocess(subject: str, pairs: int, runs: int) -> dict:
    command = [sys.executable, __file__, "--one", subject, "--pairs", str(pairs), "--runs", str(runs)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        return {"subject": subject, "error": result.stderr.strip().splitlines()[-1:]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    header = f"{'subject':<14} {'µs added/run':>13} {'IQR µs':>8} {'run µs':>8} {'spans/run':>9} {'semconv attrs':>13}"
    lines = [header + " usage"]
    for row in results:
        if "error" in row:
            lines.append(f"{row['subject']:<14} not measured: {row['error']}")
            continue
        lines.append(f"{row['subject']:<14} {row['added_us']:>13.0f} {row['iqr_us']:>8.0f} {row['base_us']:>8.0f}"
                     f" {row['spans_per_run']:>9}"
                     f" {row['semconv_attrs']:>9}/{len(KEY_ATTRIBUTES):<3} {'yes' if row['usage'] else 'no'}")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--subjects", default=",".join(SUBJECTS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_subject(args.one, args.pairs, args.runs)))
        return 0
    results = [_in_subprocess(name, args.pairs, args.runs) for name in args.subjects.split(",")]
    print(f"Agno Agent.run (1 tool call, 2 model calls), {args.pairs} ABBA pairs x {args.runs} runs per block")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
