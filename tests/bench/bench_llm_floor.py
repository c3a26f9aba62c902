"""How close spanmeter's non-streaming LLM span is to the least any instrumentation can pay.

    python tests/bench/bench_llm_floor.py [--rounds N] [--sdks openai,anthropic]

bench_llm_overhead.py measures whole calls; its figures move by tens of µs with the
machine. This one times only the instrumentation layer, in the state a real call
meets it: right after an uninstrumented SDK call over the mock transport has run
(untimed) and pushed instrumentation code and data out of the CPU caches. The
wrapped call itself returns a pre-parsed response, so the SDK's own work is not in
the figure. Three subjects, in turn within each round so machine drift hits all alike:

floor      the SDK span alone: start a CLIENT span, make it current, set the
           attributes spanmeter sets for this call (computed beforehand), end it
minimal    a bare wrapper producing those attributes with spanmeter's own request /
           response functions: no fault guards, no enrich rule, no stream support
spanmeter  the wrapper ``instrument()`` installs

All three export through SpanmeterProcessor (worker idle while timed). The ratio
spanmeter / floor is what spanmeter adds over the SDK span it has to create;
minimal / floor is what any instrumentation with the same attributes pays.
Figures are printed, not asserted (``test_bench_smoke.py`` runs it tiny).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import statistics
import sys
import time
from collections.abc import Callable

import llm_fakes
from bench_llm_overhead import CountingExporter
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind

from spanmeter.processing import SpanmeterProcessor


@dataclasses.dataclass
class _Call:
    """One SDK's non-streaming call, unwrapped and as the pieces a wrapper works with."""

    instance: object  # the resource object (``client.chat.completions``, ``client.messages``)
    kwargs: dict
    response: object  # pre-parsed, what the wrapped call returns
    bare: Callable[[], object]  # the real SDK call with no instrumentation
    wrapper: Callable  # spanmeter's installed wrapper (wrapped, instance, args, kwargs)
    describe: Callable  # spanmeter's (instance, kwargs) -> (operation, model, attributes)
    response_attributes: Callable  # spanmeter's response -> attributes
    uninstrument: Callable[[], None]


@dataclasses.dataclass(frozen=True)
class _Sdk:
    """Where one SDK's non-streaming create() and spanmeter's pieces for it live."""

    resource: str  # "module:Class" whose ``create`` spanmeter wraps
    response: str  # "module:Class" of what create() returns
    path: tuple[str, ...]  # attributes from the client to the resource object
    model: str
    body: bytes  # the response body, parsed once into ``response``
    spanmeter: str  # spanmeter's instrumentation module
    instrumentor: str
    describe: str  # its (instance, kwargs) -> (operation, model, attributes)
    response_attributes: str  # its response -> attributes


SDKS = {
    "openai": _Sdk(
        "openai.resources.chat.completions.completions:Completions", "openai.types.chat:ChatCompletion",
        ("chat", "completions"), llm_fakes.OPENAI_MODEL, llm_fakes.OPENAI_CHAT_BODY,
        "spanmeter.instrumentation.openai", "OpenAIInstrumentor", "_describe_chat", "_chat_attributes",
    ),
    "anthropic": _Sdk(
        "anthropic.resources.messages.messages:Messages", "anthropic.types:Message",
        ("messages",), llm_fakes.ANTHROPIC_MODEL, llm_fakes.ANTHROPIC_MESSAGE_BODY,
        "spanmeter.instrumentation.anthropic", "AnthropicInstrumentor", "_describe", "_message_attributes",
    ),
}  # fmt: skip


def _named(path: str) -> object:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _call(sdk: str, provider: TracerProvider) -> _Call:
    """Instrument ``sdk`` with spanmeter and take its create() apart (see :class:`_Call`)."""
    spec = SDKS[sdk]
    ours = importlib.import_module(spec.spanmeter)
    instrumentor = getattr(ours, spec.instrumentor)()
    instrumentor.instrument(tracer_provider=provider)
    instance = getattr(llm_fakes, f"{sdk}_client")()
    for name in spec.path:
        instance = getattr(instance, name)
    kwargs = {"model": spec.model, "messages": llm_fakes.MESSAGES, "max_tokens": 512}
    create = _named(spec.resource).__dict__["create"]
    original = create.__wrapped__
    return _Call(
        instance, kwargs, _named(spec.response).model_validate_json(spec.body),
        lambda: original(instance, **kwargs), create._self_wrapper,
        getattr(ours, spec.describe), getattr(ours, spec.response_attributes), instrumentor.uninstrument,
    )  # fmt: skip


def _subjects(call: _Call, tracer: trace.Tracer) -> dict[str, Callable[[], object]]:
    operation, model, attributes = call.describe(call.instance, call.kwargs)
    attributes = {**attributes, **call.response_attributes(call.response)}
    name = f"{operation} {model}"
    instance, kwargs, response = call.instance, call.kwargs, call.response

    def wrapped(*_args, **_kwargs):
        return response

    def floor():
        span = tracer.start_span(name, kind=SpanKind.CLIENT)
        token = context.attach(trace.set_span_in_context(span))
        context.detach(token)
        span.set_attributes(attributes)
        span.end()

    def minimal():
        operation, model, request = call.describe(instance, kwargs)
        span = tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT)
        token = context.attach(trace.set_span_in_context(span))
        result = wrapped(**kwargs)
        context.detach(token)
        request.update(call.response_attributes(result))
        span.set_attributes(request)
        span.end()
        return result

    def spanmeter():
        return call.wrapper(wrapped, instance, (), kwargs)

    return {"floor": floor, "minimal": minimal, "spanmeter": spanmeter}


def measure(sdk: str, rounds: int, exporter: SpanExporter | None = None) -> dict[str, float]:
    """Median µs per subject, each timed right after an uninstrumented SDK call."""
    provider = TracerProvider()
    processor = SpanmeterProcessor(
        exporter or CountingExporter(),
        max_queue_size=4 * rounds + 64,
        max_export_batch_size=4 * rounds + 64,
        schedule_delay_millis=600_000,
    )  # fmt: skip - the worker runs in force_flush only
    provider.add_span_processor(processor)
    call = _call(sdk, provider)
    try:
        subjects = _subjects(call, provider.get_tracer("bench"))
        names = list(subjects)
        times: dict[str, list[int]] = {name: [] for name in names}
        for _ in range(max(3, rounds // 10)):  # warm-up
            for subject in subjects.values():
                call.bare()
                subject()
        provider.force_flush()
        for i in range(rounds):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                call.bare()
                start = time.perf_counter_ns()
                subjects[name]()
                times[name].append(time.perf_counter_ns() - start)
    finally:
        call.uninstrument()
        provider.shutdown()
    return {name: statistics.median(values) / 1e3 for name, values in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--sdks", default=",".join(SDKS))
    args = parser.parse_args(argv)
    print(f"µs per non-streaming call, instrumentation layer only, after an uninstrumented SDK call "
          f"({args.rounds} rounds; medians)")  # fmt: skip
    print(f"{'sdk':<10} {'floor':>7} {'minimal':>8} {'spanmeter':>10}  {'minimal/floor':>13} {'spanmeter/floor':>15}")
    for sdk in args.sdks.split(","):
        r = measure(sdk, args.rounds)
        print(f"{sdk:<10} {r['floor']:>7.1f} {r['minimal']:>8.1f} {r['spanmeter']:>10.1f}  "
              f"{r['minimal'] / r['floor']:>13.2f} {r['spanmeter'] / r['floor']:>15.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
