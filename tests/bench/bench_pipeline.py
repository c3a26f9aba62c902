"""End-to-end figures of ``spanmeter pipeline`` on loopback: throughput, floor ratio, added latency, soak.

    python tests/bench/bench_pipeline.py                 # CPU per span by shape, throughput, latency
    python tests/bench/bench_pipeline.py --soak          # 2 minutes, downstream down then up

Three processes: a sender (another process; ``--client official`` uses the OpenTelemetry
SDK's OTLPSpanExporter on pre-built ReadableSpans, ``--client raw`` sends the same
requests pre-encoded over the same OTLP/gRPC method so the sender's encoding does not eat
the shared cores), the pipeline (``spanmeter pipeline`` as a subprocess, spanmeter
processor on, span metrics on) and an OTLP/gRPC sink (this process, counting requests).
First, CPU per span of the pipeline process (user + system time over the spans it
delivered) for three shapes of traffic -- plain HTTP/DB spans, a mix with 10 % LLM calls,
all LLM calls -- with the spanmeter processor and, in the same run, without it (the
pipeline's own path: receive, queue, export); the ratio is what the processor costs, and
its target is printed beside it. Beside the end-to-end rate it prints the FLOOR: the rate at which one core merely parses
the same requests, reads every attribute key and value and re-serializes them, measured
in the same run; the ratio is the figure that survives a noisy machine.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import statistics
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1 import common_pb2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.pipeline

from spanmeter.otlp.json_codec import to_json_line
from support.pipeline import PipelineProcess

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SPANS_PER_BATCH = 512
MODELS = ("gpt-4o-mini", "gpt-4o", "claude-3-5-haiku-latest")


# --- the workload -------------------------------------------------------------------------------
def _attribute(span, key: str, **value) -> None:
    span.attributes.add(key=key, value=common_pb2.AnyValue(**value))


SHAPES = {"plain HTTP/DB": 0, "10 % LLM": 10, "all LLM": 1}
"""Shape -> one span in how many is an LLM call (0: none)."""
SHAPE_TARGETS = {"plain HTTP/DB": 2.0, "10 % LLM": 2.5, "all LLM": 5.0}
"""Pipeline CPU per span with the processor / without it, at most (issue 22)."""


def build_request(index: int, spans: int = SPANS_PER_BATCH, llm_every: int = 1) -> ExportTraceServiceRequest:
    """``spans`` spans of ~10 attributes each, from 4 services, as an app's SDK would send them:
    every ``llm_every``-th an LLM call, the others HTTP server and database client spans (0: none)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    _attribute(resource_spans.resource, "service.name", string_value=f"svc-{index % 4}")
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "bench"
    start = 1_700_000_000_000_000_000 + index * 10**9
    for number in range(spans):
        span = scope_spans.spans.add(name="chat", kind=3, start_time_unix_nano=start + number,
                                     end_time_unix_nano=start + number + 250_000_000)  # fmt: skip
        span.trace_id = (index * 100_000 + number + 1).to_bytes(16, "big")
        span.span_id = (number + 1).to_bytes(8, "big")
        if not llm_every or number % llm_every:
            _plain_span(span, number)
            continue
        model = MODELS[number % len(MODELS)]
        provider = "anthropic" if model.startswith("claude") else "openai"
        span.name = f"chat {model}"
        texts = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            "gen_ai.response.model": model,
            "server.address": "api.example.com",
            "gen_ai.response.id": f"r-{index}-{number}",
        }
        for key, text in texts.items():
            _attribute(span, key, string_value=text)
        _attribute(span, "gen_ai.usage.input_tokens", int_value=800 + number % 400)
        _attribute(span, "gen_ai.usage.output_tokens", int_value=100 + number % 300)
        _attribute(span, "server.port", int_value=443)
        _attribute(span, "gen_ai.request.temperature", double_value=0.2)
    return request


def _plain_span(span, number: int) -> None:
    """An HTTP server span or a database client span, attributes as the semantic conventions name them."""
    if number % 2:
        span.name, span.kind = "GET /api/orders/{id}", 2
        texts = {"http.request.method": "GET", "http.route": "/api/orders/{id}", "url.path": f"/api/orders/{number}",
                 "url.scheme": "https", "server.address": "shop.example.com", "user_agent.original": "curl/8.5",
                 "network.protocol.version": "1.1"}  # fmt: skip
        numbers = {"http.response.status_code": 200, "server.port": 443, "http.response.body.size": 1200 + number}
    else:
        span.name = "SELECT orders"
        texts = {"db.system.name": "postgresql", "db.namespace": "shop", "db.operation.name": "SELECT",
                 "db.collection.name": "orders", "db.query.text": "SELECT * FROM orders WHERE id = $1",
                 "server.address": "db.internal", "network.peer.address": "10.0.0.7"}  # fmt: skip
        numbers = {"server.port": 5432, "db.response.returned_rows": 1 + number % 5}
    for key, text in texts.items():
        _attribute(span, key, string_value=text)
    for key, value in numbers.items():
        _attribute(span, key, int_value=value)


def floor_rate(payloads: list[bytes], seconds: float = 2.0) -> float:
    """Spans/s one core parses, reads every attribute key and value of, and re-serializes."""
    done = spans = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or done == 0:
        request = ExportTraceServiceRequest.FromString(payloads[done % len(payloads)])
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    for kv in span.attributes:
                        _ = kv.key, getattr(kv.value, kv.value.WhichOneof("value"))
                    spans += 1
        request.SerializeToString()
        done += 1
    return spans / (time.perf_counter() - started)


# --- the sink -----------------------------------------------------------------------------------
class Sink:
    """OTLP/gRPC traces sink taking raw bytes: counts requests (each carries one sent batch), or refuses."""

    def __init__(self) -> None:
        self.requests = 0
        self.arrivals: list[float] = []
        self.down = False
        self.refused = 0
        self._lock = threading.Lock()
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.trace.v1.TraceService",
            {"Export": grpc.unary_unary_rpc_method_handler(self._export)},
        )
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def _export(self, body: bytes, context) -> bytes:
        if self.down:
            with self._lock:
                self.refused += 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "sink down")
        with self._lock:
            self.requests += 1
            self.arrivals.append(time.monotonic())
        return b""

    def wait_for(self, requests: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.requests < requests and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.requests >= requests


# --- senders (run in another process) ----------------------------------------------------------
def _readable_spans(request: ExportTraceServiceRequest) -> list:
    """The request's spans as SDK ReadableSpans, for the official exporter to encode."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

    resource_spans = request.resource_spans[0]
    resource = Resource({kv.key: kv.value.string_value for kv in resource_spans.resource.attributes})
    scope = InstrumentationScope("bench")
    spans = []
    for span in resource_spans.scope_spans[0].spans:
        attributes = {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in span.attributes}
        context = SpanContext(int.from_bytes(span.trace_id, "big"), int.from_bytes(span.span_id, "big"),
                              is_remote=False, trace_flags=TraceFlags(1))  # fmt: skip
        spans.append(ReadableSpan(name=span.name, context=context, kind=SpanKind.CLIENT, resource=resource,
                                  attributes=attributes, start_time=span.start_time_unix_nano,
                                  end_time=span.end_time_unix_nano, instrumentation_scope=scope))  # fmt: skip
    return spans


def _send_grpc(endpoint: str, client: str, batches: int, concurrency: int, warmup: int) -> dict:
    payloads = [build_request(i).SerializeToString() for i in range(8)]
    call = grpc.insecure_channel(endpoint).unary_unary(TRACES_METHOD)
    for index in range(warmup):  # connections, price tables, first-call costs
        call(payloads[index % len(payloads)], timeout=30)
    if client == "official":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_lists = [_readable_spans(ExportTraceServiceRequest.FromString(p)) for p in payloads]
        exporters = [OTLPSpanExporter(endpoint=endpoint, insecure=True) for _ in range(concurrency)]
        counter = iter(range(batches))
        lock = threading.Lock()

        def work(exporter) -> None:
            while True:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                exporter.export(span_lists[index % len(span_lists)])

        started = time.monotonic()
        with futures.ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(work, exporters))
        return {"started": started, "finished": time.monotonic()}
    started = time.monotonic()
    _pipelined(call, payloads, batches, concurrency)
    return {"started": started, "finished": time.monotonic()}


def _pipelined(call, payloads: list[bytes], batches: int, concurrency: int) -> None:
    """Send ``batches`` of the pre-encoded ``payloads`` in turn, ``concurrency`` calls in flight."""
    in_flight = []
    for index in range(batches):
        in_flight.append(call.future(payloads[index % len(payloads)], timeout=30))
        if len(in_flight) >= concurrency:
            in_flight.pop(0).result()
    for future in in_flight:
        future.result()


def _send_shape(endpoint: str, llm_every: int, batches: int, concurrency: int) -> dict:
    """``batches`` requests of one shape over OTLP/gRPC, pre-encoded, ``concurrency`` in flight."""
    payloads = [build_request(i, llm_every=llm_every).SerializeToString() for i in range(8)]
    _pipelined(grpc.insecure_channel(endpoint).unary_unary(TRACES_METHOD), payloads, batches, concurrency)
    return {}


def _send_one_at_a_time(endpoints: list[str], batches: int) -> list[list[float]]:
    """Per endpoint, the start time of each of ``batches`` calls made one after another."""
    payload = build_request(0).SerializeToString()
    starts = []
    for endpoint in endpoints:
        call = grpc.insecure_channel(endpoint).unary_unary(TRACES_METHOD)
        call(payload, timeout=30)
        times = []
        for _ in range(batches):
            time.sleep(0.01)
            times.append(time.monotonic())
            call(payload, timeout=30)
        starts.append(times)
    return starts


def _send_http(endpoint: str, content_type: str, batches: int, concurrency: int) -> dict:
    requests = [build_request(i) for i in range(8)]
    if content_type == "application/json":
        payloads = [to_json_line(r).encode() for r in requests]
    else:
        payloads = [r.SerializeToString() for r in requests]
    host, port = endpoint.rsplit(":", 1)
    counter = iter(range(batches))
    lock = threading.Lock()

    def work(_: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while True:
            with lock:
                index = next(counter, None)
            if index is None:
                return
            connection.request("POST", "/v1/traces", body=payloads[index % len(payloads)],
                               headers={"Content-Type": content_type})  # fmt: skip
            response = connection.getresponse()
            response.read()
            assert response.status == 200, response.status

    started = time.monotonic()
    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(work, range(concurrency)))
    return {"started": started, "finished": time.monotonic()}


def _soak_sender(endpoint: str, rate: float, seconds: float) -> dict:
    """Offer ``rate`` spans/s for ``seconds``; a refused batch is retried after its RetryInfo delay."""
    payloads = [build_request(i).SerializeToString() for i in range(8)]
    call = grpc.insecure_channel(endpoint).unary_unary(TRACES_METHOD)
    interval = SPANS_PER_BATCH / rate
    accepted = refused = 0
    started = time.monotonic()
    next_send = started
    index = 0
    while time.monotonic() - started < seconds:
        try:
            call(payloads[index % len(payloads)], timeout=10)
            accepted += 1
            index += 1
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            refused += 1
            time.sleep(_retry_after(error))
            continue
        next_send += interval
        time.sleep(max(0.0, next_send - time.monotonic()))
    return {"accepted": accepted, "refused": refused}


def _retry_after(error: grpc.RpcError) -> float:
    details = dict(error.trailing_metadata() or ()).get("grpc-status-details-bin")
    status = status_pb2.Status.FromString(details) if details else status_pb2.Status()
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return 1.0


def _serve_tasks(tasks, results) -> None:
    while (task := tasks.get()) is not None:
        function, args = task
        results.put(function(*args))


class SenderProcess:
    """One process, started once, that runs the sender functions it is handed (a spawn per run costs seconds)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.tasks, self.results = context.Queue(), context.Queue()
        self.process = context.Process(target=_serve_tasks, args=(self.tasks, self.results), daemon=True)
        self.process.start()

    def run(self, function, *args):
        self.tasks.put((function, args))
        return self.results.get(timeout=600)

    def close(self) -> None:
        self.tasks.put(None)
        self.process.join(30)


# --- the runs -----------------------------------------------------------------------------------
CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
      http:
        endpoint: 127.0.0.1:0
processors:
  spanmeter: {{}}
exporters:
  otlp_grpc/sink:
    endpoint: 127.0.0.1:{sink_port}
    compression: none
    tls:
      insecure: true
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 1s
      max_elapsed_time: 0
    sending_queue:
      queue_size: {queue_size}
      num_consumers: 4
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [{processors}]
      exporters: [otlp_grpc/sink]
"""


def start_pipeline(directory: Path, sink: Sink, queue_size: int = 200, processors: str = "spanmeter"):
    """``spanmeter pipeline`` as a subprocess (imported here: the sender process does not need it)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for support.pipeline

    config = directory / "bench-pipeline.yaml"
    config.write_text(CONFIG.format(sink_port=sink.port, queue_size=queue_size, processors=processors))
    return PipelineProcess(config, "--drain-timeout", "5")


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def throughput(
    sender_process: SenderProcess, sink: Sink, name: str, sender, *args, batches: int, skip: int = 0
) -> float:
    """Spans/s from the sender's first timed call to the sink's arrival of the last batch."""
    before = sink.requests + skip
    result = sender_process.run(sender, *args)
    assert sink.wait_for(before + batches, 120), f"{name}: only {sink.requests - before} of {batches} delivered"
    elapsed = sink.arrivals[before + batches - 1] - result["started"]
    return batches * SPANS_PER_BATCH / elapsed


def latency(
    sender_process: SenderProcess, pipeline_endpoint: str, sink: Sink, batches: int
) -> tuple[list[float], list[float]]:
    """Milliseconds from the sender's call to the sink's arrival, one batch at a time: via the pipeline, direct."""
    before = sink.requests
    starts = sender_process.run(_send_one_at_a_time, [pipeline_endpoint, f"127.0.0.1:{sink.port}"], batches)
    sink.wait_for(before + 2 * (batches + 1), 60)
    via, direct = sink.arrivals[before + 1 : before + 1 + batches], sink.arrivals[before + 2 + batches :]
    return (
        [(arrival - start) * 1000 for start, arrival in zip(starts[0], via, strict=True)],
        [(arrival - start) * 1000 for start, arrival in zip(starts[1], direct, strict=True)],
    )


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (all its threads)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_per_span(sender_process: SenderProcess, sink: Sink, pipeline, llm_every: int, args) -> float:
    """µs of pipeline CPU per span delivered, for ``args.shape_batches`` batches of one shape (after a warm-up)."""
    endpoint = pipeline.endpoints["otlp/grpc"]
    for batches in (4, args.shape_batches):  # the first run warms up: prices, profiles, connections
        before = sink.requests
        used = cpu_seconds(pipeline.process.pid)
        sender_process.run(_send_shape, endpoint, llm_every, batches, args.concurrency)
        assert sink.wait_for(before + batches, 120), f"only {sink.requests - before} of {batches} delivered"
        used = cpu_seconds(pipeline.process.pid) - used
    return used / (batches * SPANS_PER_BATCH) * 1e6


def run_shapes(args: argparse.Namespace, directory: Path) -> None:
    """Pipeline CPU per span for each shape, with the processor and without it, in one run."""
    sink = Sink()
    sender_process = SenderProcess()
    pipelines = {}
    try:
        for processors in ("spanmeter", ""):
            (directory / processors).mkdir(exist_ok=True)
            pipelines[processors] = start_pipeline(directory / processors, sink, processors=processors)
        print(f"pipeline CPU per span (µs; {args.shape_batches} batches x {SPANS_PER_BATCH} spans over OTLP/gRPC):")
        for shape, llm_every in SHAPES.items():
            with_processor = cpu_per_span(sender_process, sink, pipelines["spanmeter"], llm_every, args)
            without = cpu_per_span(sender_process, sink, pipelines[""], llm_every, args)
            target = SHAPE_TARGETS[shape]
            if without:
                ratio = with_processor / without
                verdict = (
                    f"{ratio:4.2f}x  (target <= {target}x: {'meets target' if ratio <= target else 'MISSES target'})"
                )
            else:
                verdict = f"n/a  (target <= {target}x; too few spans for the CPU clock)"
            print(f"  {shape:14s} with spanmeter {with_processor:6.1f}  without {without:6.1f}  ratio {verdict}")
    finally:
        sender_process.close()
        for pipeline in pipelines.values():
            pipeline.process.terminate()
            pipeline.process.wait(30)
        sink.server.stop(None)


def run_throughput(args: argparse.Namespace, directory: Path) -> None:
    payloads = [build_request(i).SerializeToString() for i in range(8)]
    floor = floor_rate(payloads, seconds=args.floor_seconds)
    print(f"floor (1 core parses, reads every attribute, re-serializes): {floor:,.0f} spans/s")
    sink = Sink()
    sender_process = SenderProcess()
    pipeline = start_pipeline(directory, sink, processors="" if args.no_processor else "spanmeter")
    print("spanmeter processor:", "off (the pipeline's own path only)" if args.no_processor else "on")
    try:
        grpc_endpoint, http_endpoint = pipeline.endpoints["otlp/grpc"], pipeline.endpoints["otlp/http"]
        warmup = 4
        rows = [
            ("OTLP/gRPC", _send_grpc, (grpc_endpoint, args.client, args.batches, args.concurrency, warmup)),
            (
                "OTLP/HTTP protobuf",
                _send_http,
                (http_endpoint, "application/x-protobuf", args.batches, args.concurrency),
            ),
            (
                "OTLP/HTTP JSON",
                _send_http,
                (http_endpoint, "application/json", max(2, args.batches // 4), args.concurrency),
            ),
        ]
        for name, sender, sender_args in rows:
            count = sender_args[2]
            skip = warmup if sender is _send_grpc else 0  # the warm-up batches arrive first
            rate = throughput(sender_process, sink, name, sender, *sender_args, batches=count, skip=skip)
            client = args.client if sender is _send_grpc else "http.client"
            print(
                f"{name:20s} end-to-end {rate:>10,.0f} spans/s   ratio to floor {rate / floor:.2f}"
                f"   ({count} batches x {SPANS_PER_BATCH} spans, {client} sender)"
            )
        through_pipeline, direct = latency(sender_process, grpc_endpoint, sink, args.latency_batches)
        print(f"pipeline peak RSS: {peak_rss_mib(pipeline.process.pid):.0f} MiB")
    finally:
        sender_process.close()
        pipeline.process.terminate()
        pipeline.process.wait(30)
    added = [a - b for a, b in zip(sorted(through_pipeline), sorted(direct), strict=False)]
    print(f"latency per batch via pipeline p50 {percentile(through_pipeline, 0.5):.1f} ms  p99 "
          f"{percentile(through_pipeline, 0.99):.1f} ms; direct to sink p50 {percentile(direct, 0.5):.1f} ms  p99 "
          f"{percentile(direct, 0.99):.1f} ms; added p50 {statistics.median(added):.1f} ms  "
          f"p99 {percentile(through_pipeline, 0.99) - percentile(direct, 0.99):.1f} ms")  # fmt: skip
    sink.server.stop(None)


def run_soak(args: argparse.Namespace, directory: Path) -> None:
    sink = Sink()
    sink.down = True
    sender_process = SenderProcess()
    pipeline = start_pipeline(directory, sink, queue_size=args.soak_queue)
    try:
        recover_at = args.soak_seconds / 2

        def recover() -> None:  # the outage lasts recover_at from the first batch the pipeline tried to send
            while not sink.refused:
                time.sleep(0.01)
            time.sleep(recover_at)
            sink.down = False

        threading.Thread(target=recover, daemon=True).start()
        result = sender_process.run(_soak_sender, pipeline.endpoints["otlp/grpc"], args.soak_rate, args.soak_seconds)
        delivered_all = sink.wait_for(result["accepted"], 120)
        rss = peak_rss_mib(pipeline.process.pid)
    finally:
        sender_process.close()
        pipeline.process.terminate()
        pipeline.process.wait(30)
        sink.server.stop(None)
    print(f"soak: {args.soak_seconds:.0f} s at {args.soak_rate:,.0f} spans/s offered, downstream down for the first "
          f"{recover_at:.0f} s (queue {args.soak_queue} batches)")  # fmt: skip
    print(f"  accepted {result['accepted'] * SPANS_PER_BATCH:,} spans; refused-with-retry {result['refused']} times; "
          f"delivered after recovery {sink.requests * SPANS_PER_BATCH:,} spans "
          f"({'all' if delivered_all else 'NOT all'}); downstream refusals seen by the pipeline "
          f"{sink.refused}")  # fmt: skip
    print(f"  pipeline peak RSS {rss:.0f} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200, help="batches of 512 spans per throughput run")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight from the sender")
    parser.add_argument("--client", choices=("raw", "official"), default="raw")
    parser.add_argument("--no-processor", action="store_true", help="without the spanmeter processor: transport only")
    parser.add_argument("--latency-batches", type=int, default=200)
    parser.add_argument("--shape-batches", type=int, default=100, help="batches of 512 spans per shape and pipeline")
    parser.add_argument("--shapes-only", action="store_true", help="only CPU per span by shape")
    parser.add_argument("--floor-seconds", type=float, default=2.0)
    parser.add_argument("--soak", action="store_true", help="2 minutes, downstream down for the first half")
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--soak-rate", type=float, default=5000.0, help="spans/s offered during the soak")
    parser.add_argument("--soak-queue", type=int, default=100, help="sending_queue.queue_size (batches) in the soak")
    args = parser.parse_args(argv)
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")
        if args.soak:
            run_soak(args, Path(directory))
            return
        run_shapes(args, Path(directory))
        if not args.shapes_only:
            run_throughput(args, Path(directory))


if __name__ == "__main__":
    main()
