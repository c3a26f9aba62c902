"""The running pipeline: receivers -> (spanmeter processor) -> one bounded queue per exporter -> exporters.

``consume`` runs on the receiver's thread: it refuses the request (retryable) when any
target queue is full — before processing, so a retried request is not counted twice —
then enriches traces in place, serializes once and enqueues the bytes for every
exporter of every pipeline the receiver feeds. The derived metrics of the spanmeter
processors flow into every ``metrics`` pipeline every few seconds, as a span-metrics
connector's would. ``stop`` stops the receivers, flushes the derived metrics, and
drains the queues until a deadline (a file queue keeps what is left for next start).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time

import grpc
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from spanmeter.pipeline import exporters as exporter_kinds
from spanmeter.pipeline import telemetry as tm
from spanmeter.pipeline.app_metrics import PrometheusExporter
from spanmeter.pipeline.batcher import Batcher
from spanmeter.pipeline.config import Pipeline, PipelineConfig, Protocol, downstream
from spanmeter.pipeline.health import health_routes
from spanmeter.pipeline.http_server import Server, serve_routes, stop_server
from spanmeter.pipeline.insights_api import BearerTokenInterceptor, serve_insights
from spanmeter.pipeline.memory_limiter import MemoryLimiter
from spanmeter.pipeline.queue import Batch
from spanmeter.pipeline.queue.file import FileQueue
from spanmeter.pipeline.queue.memory import MemoryQueue
from spanmeter.pipeline.receivers import ACCEPTED, Outcome
from spanmeter.pipeline.receivers.grpc import GrpcReceiver, server_credentials
from spanmeter.pipeline.receivers.http import HttpReceiver
from spanmeter.pipeline.sending import Delivery, DirectExporter, QueuedExporter
from spanmeter.pipeline.stage import SpanmeterStage
from spanmeter.pipeline.telemetry import SelfMetrics, item_metric, log_event
from spanmeter.processing import exposition

# How often the derived metrics are pushed into the metrics pipelines (and at stop).
METRICS_INTERVAL_S = 5.0
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


def count_items(signal: str, request: Message) -> int:
    """Spans, metric data points or log records in a request."""
    if signal == "traces":
        return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
    if signal == "logs":
        return sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
    total = 0
    for resource in request.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                kind = metric.WhichOneof("data")
                total += len(getattr(metric, kind).data_points) if kind else 0
    return total


def drop_invalid_spans(request: Message) -> int:
    """Remove spans whose trace id is not 16 bytes or span id not 8 (partial success); how many."""
    dropped = 0
    for resource in request.resource_spans:
        for scope in resource.scope_spans:
            spans = scope.spans
            bad = [i for i, span in enumerate(spans) if len(span.trace_id) != 16 or len(span.span_id) != 8]
            for index in reversed(bad):
                del spans[index]
            dropped += len(bad)
    return dropped


class _Route:
    """One pipeline as the service runs it: its processing steps in order (``spanmeter`` stages and
    ``batch`` batchers: its own instances, as in the Collector), the memory limiters it lists, its
    exporters, and the pipelines its forward connectors feed."""

    def __init__(self, pipeline: Pipeline, targets: list, limiters: list[MemoryLimiter]):
        self.pipeline, self.targets, self.limiters = pipeline, targets, limiters
        self.steps: list[SpanmeterStage | Batcher] = []
        self.forwards: list[_Route] = []

    def all_targets(self) -> list:
        """Its exporters and those of every pipeline downstream (a full queue there refuses too)."""
        return [*self.targets, *(target for route in self.forwards for target in route.all_targets())]

    def all_limiters(self) -> list[MemoryLimiter]:
        return [*self.limiters, *(limiter for route in self.forwards for limiter in route.all_limiters())]


class PipelineService:
    def __init__(self, config: PipelineConfig):
        self.config = config
        self.metrics = SelfMetrics()
        self.stages = {  # "pipeline/processor" -> that pipeline's own instance of the processor
            f"{p.name}/{name}": SpanmeterStage(config.processors[name], with_insights=name in config.insights)
            for p in config.pipelines
            for name in p.processors
            if name in config.processors
        }
        self.limiters = {name: MemoryLimiter(name, limit) for name, limit in config.limiters.items()}
        self.batchers: list[Batcher] = []
        used = {name for pipeline in config.pipelines for name in pipeline.exporters if name in config.exporters}
        self.exporters = {name: self._queued(name) for name in sorted(used)}
        self.routes = [
            _Route(
                p,
                [self.exporters[e] for e in p.exporters if e in self.exporters],
                [self.limiters[name] for name in p.processors if name in self.limiters],
            )
            for p in config.pipelines
        ]
        by_name = {route.pipeline.name: route for route in self.routes}
        for route in self.routes:
            route.forwards = [by_name[p.name] for p in downstream(config, route.pipeline)]
            route.steps = [self._step(route, name) for name in route.pipeline.processors if name not in self.limiters]
        self.receivers = self._receivers()
        self._servers: list[Server] = []
        self._grpc_servers: list[grpc.Server] = []
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.endpoints: dict[str, str] = {}

    def _step(self, route: _Route, name: str) -> SpanmeterStage | Batcher:
        """Processor ``name`` of ``route``: its spanmeter stage, or a batcher that hands its batches
        to the steps after it."""
        if name in self.config.processors:
            return self.stages[f"{route.pipeline.name}/{name}"]
        after = [n for n in route.pipeline.processors if n not in self.limiters].index(name) + 1
        signal = route.pipeline.signal
        batcher = Batcher(f"{route.pipeline.name}/{name}", self.config.batches[name], signal,
                          lambda request, items: self._route(route, signal, request, None, items, start=after))  # fmt: skip
        self.batchers.append(batcher)
        return batcher

    # -- building ---------------------------------------------------------------------------
    def _queued(self, name: str) -> QueuedExporter | DirectExporter | PrometheusExporter:
        config = self.config.exporters[name]
        if config.kind == "prometheus":
            return PrometheusExporter(name, self.metrics)
        if not config.queue.enabled:
            return DirectExporter(config, exporter_kinds.build(config), self.metrics)
        if config.queue.storage:
            directory, fsync = self.config.storage[config.queue.storage]
            queue = FileQueue(os.path.join(directory, re.sub(r"[^A-Za-z0-9_.-]", "_", name)),
                              config.queue.queue_size, fsync)  # fmt: skip
            if queue.replayed or queue.corrupt:
                log_event("queue_replayed", exporter=name, batches=queue.replayed, corrupt=queue.corrupt)
        else:
            queue = MemoryQueue(config.queue.queue_size)
        return QueuedExporter(config, exporter_kinds.build(config), queue, self.metrics)

    def _receivers(self) -> list[GrpcReceiver | HttpReceiver]:
        used = {
            name for pipeline in self.config.pipelines for name in pipeline.receivers if name in self.config.receivers
        }
        built: list[GrpcReceiver | HttpReceiver] = []
        for name in sorted(used):
            receiver = self.config.receivers[name]
            for protocol, kind in ((receiver.grpc, GrpcReceiver), (receiver.http, HttpReceiver)):
                if protocol is not None:
                    token = self.config.tokens.get(protocol.authenticator) if protocol.authenticator else None
                    signals = {p.signal for p in self.config.pipelines if name in p.receivers}
                    built.append(kind(name, protocol, self.consume, token, signals))
        return built

    # -- the hot path (receiver threads) ----------------------------------------------------
    def consume(self, receiver: str, transport: str, signal: str, request: Message, raw: bytes | None,
                metadata: dict[str, str] | None = None) -> Outcome:  # fmt: skip
        if self._stop.is_set():  # draining: a request that reaches a handler now is refused, retryable
            return Outcome(refused=True, message="the pipeline is shutting down; retry later")
        routes = [r for r in self.routes if r.pipeline.signal == signal and receiver in r.pipeline.receivers]
        rejected = drop_invalid_spans(request) if signal == "traces" else 0
        items = count_items(signal, request)
        labels = {"receiver": receiver, "transport": transport}
        limited = next((m for r in routes for m in r.all_limiters() if m.refusing), None)
        if limited is not None:
            self.metrics.add(item_metric(tm.RECEIVER_REFUSED, signal), items + rejected, **labels)
            return Outcome(refused=True, message=f"memory use is above the soft limit of {limited.name}; retry later")
        full = next((t for r in routes for t in r.all_targets() if not t.has_room()), None)  # before processing
        if full is not None:
            self.metrics.add(item_metric(tm.RECEIVER_REFUSED, signal), items + rejected, **labels)
            self.metrics.add(item_metric(tm.EXPORTER_ENQUEUE_FAILED, signal), items, exporter=full.name)
            return Outcome(refused=True, message=f"the sending queue of exporter {full.name} is full; retry later")
        if rejected:
            self.metrics.add(item_metric(tm.RECEIVER_REFUSED, signal), rejected, **labels)
            raw = None
        if items:
            for index, route in enumerate(routes):
                message = request if index == len(routes) - 1 else _copy(request)
                problem = self._route(route, signal, message, raw, items, metadata)
                if problem is not None:
                    self.metrics.add(item_metric(tm.RECEIVER_REFUSED, signal), items, **labels)
                    return problem
            self.metrics.add(item_metric(tm.RECEIVER_ACCEPTED, signal), items, **labels)
        if rejected:
            return Outcome(rejected=rejected, message=f"{rejected} span(s) without a valid trace id / span id")
        return ACCEPTED

    def _route(self, route: _Route, signal: str, request: Message, raw: bytes | None, items: int,
               metadata: dict[str, str] | None = None, start: int = 0) -> Outcome | None:  # fmt: skip
        """Run the steps of ``route`` from ``start`` and hand the request to its exporters and to the
        pipelines its connectors feed; the sender's answer when one did not take it (a full queue or,
        without a queue, the backend's own answer), else None. A batcher takes the request and
        carries on with the steps after it when its batch is sent."""
        for step in route.steps[start:]:
            if isinstance(step, Batcher):
                step.add(request, items)
                return None
            if step.process(request, metadata, raw):
                raw = None
        payload = raw if raw is not None else request.SerializeToString()
        problem = None
        for target in route.targets:
            delivery, message = target.offer(Batch(signal, payload, items))
            if delivery is Delivery.FAILED:
                problem = Outcome(failed=True, message=message)
            elif delivery is Delivery.RETRY and problem is None:
                problem = Outcome(refused=True, message=message)
        for index, after in enumerate(route.forwards):
            message = request if index == len(route.forwards) - 1 else _copy(request)
            problem = self._route(after, signal, message, payload, items, metadata) or problem
        return problem

    # -- derived metrics ----------------------------------------------------------------------
    def derived_request(self) -> ExportMetricsServiceRequest:
        request = ExportMetricsServiceRequest()
        for stage in self.stages.values():
            request.resource_metrics.extend(stage.metrics.export_request().resource_metrics)
        return request

    def flush_derived_metrics(self) -> None:
        routes = [r for r in self.routes if r.pipeline.signal == "metrics" and r.targets]
        if not routes or not self.stages:
            return
        request = self.derived_request()
        items = count_items("metrics", request)
        if not items:
            return
        payload = request.SerializeToString()
        for route in routes:
            for target in route.targets:
                if target.takes_derived_metrics:
                    target.offer(Batch("metrics", payload, items))

    def _tick(self) -> None:
        while not self._stop.wait(METRICS_INTERVAL_S):
            self.flush_derived_metrics()

    def prometheus_text(self, exporter: str | None = None) -> str:
        """The derived metrics, live, with what the ``prometheus`` exporter ``exporter`` was sent."""
        families = [family for stage in self.stages.values() for family in stage.metrics.families()]
        target = self.exporters.get(exporter) if exporter else None
        if isinstance(target, PrometheusExporter):
            families += target.store.families()
        return exposition.render(families)

    # -- life cycle ---------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        full = [name for name, exporter in self.exporters.items() if not exporter.has_room()]
        if self._stop.is_set() or not self.endpoints:
            return False, "not serving"
        return (not full), ("queue full: " + ", ".join(full)) if full else "ok"

    def _serve(self, name: str, host: str, port: int, routes) -> None:
        server = serve_routes(name, host, port, routes)
        self._servers.append(server)
        self.endpoints[name] = f"{host}:{server.server_address[1]}"

    def start(self) -> None:
        """Start exporters, servers, then receivers (last: nothing is accepted before it can leave)."""
        for exporter in self.exporters.values():
            exporter.start()
        for component in (*self.limiters.values(), *self.batchers):
            component.start()
        for name, exporter in self.exporters.items():
            if isinstance(exporter, PrometheusExporter):
                host, _, port = self.config.exporters[name].endpoint.rpartition(":")
                self._serve(name, host, int(port), {"/metrics": lambda name=name: self._prometheus_route(name)})
        if self.config.telemetry:
            self._serve("telemetry", *self.config.telemetry, {"/metrics": self._self_metrics_route})
        if self.config.health_check:
            host, port, path = self.config.health_check
            self._serve("health_check", host, port, health_routes(path, self.ready))
        for name, protocol in self.config.insights.items():
            users = [p.name for p in self.config.pipelines if name in p.processors]
            if users:  # config: at most one pipeline
                self._serve_insights(name, self.stages[f"{users[0]}/{name}"], protocol)
        for receiver in self.receivers:
            receiver.start()
            self.endpoints[f"{receiver.name}/{type(receiver).__name__[:4].lower()}"] = (
                f"{receiver.protocol.host}:{receiver.port}"
            )
        self._ticker = threading.Thread(target=self._tick, name="spanmeter-derived-metrics", daemon=True)
        self._ticker.start()
        for warning in self.config.warnings:
            log_event("config_warning", logging.WARNING, config=self.config.file, warning=warning)
        log_event("pipeline_started", config=self.config.file, endpoints=self.endpoints, pid=os.getpid())

    def _serve_insights(self, name: str, stage: SpanmeterStage, protocol: Protocol) -> None:
        """The Insights API of processor ``name``, with the receivers' TLS and token auth."""
        token = self.config.tokens.get(protocol.authenticator) if protocol.authenticator else None
        server, port = serve_insights(
            stage.insights,
            f"{protocol.host}:{protocol.port}",
            credentials=server_credentials(protocol) if protocol.tls else None,
            interceptors=[BearerTokenInterceptor(token)] if token else (),
            max_message_bytes=protocol.max_request_bytes,
        )
        self._grpc_servers.append(server)
        self.endpoints[f"insights/{name}"] = f"{protocol.host}:{port}"

    def _prometheus_route(self, exporter: str) -> tuple[int, str, bytes]:
        return 200, PROMETHEUS_TEXT, self.prometheus_text(exporter).encode()

    def _self_metrics_route(self) -> tuple[int, str, bytes]:
        return 200, PROMETHEUS_TEXT, self.metrics.prometheus_text().encode()

    def stop(self, timeout: float) -> int:
        """Stop accepting, push the last derived metrics, drain until ``timeout``; items lost (a memory
        queue's batches not sent by then: a file queue keeps its own for the next start)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        for receiver in self.receivers:
            receiver.stop(grace=min(2.0, timeout / 4))
        for component in (*self.batchers, *self.limiters.values()):
            component.stop()  # batchers send what they hold on into the queues
        for stage in self.stages.values():
            stage.enricher.shutdown()  # calls still waiting for their agent run count, without one
        self.flush_derived_metrics()
        left = {name: exporter.drain(deadline) for name, exporter in self.exporters.items()}
        for server in self._servers:
            stop_server(server)
        for grpc_server in self._grpc_servers:
            grpc_server.stop(grace=None)
        lost = sum(exporter.lost for exporter in self.exporters.values())
        level = logging.WARNING if any(left.values()) else logging.INFO
        log_event("pipeline_stopped", level, batches_left=left, drained=not any(left.values()), items_lost=lost)
        return lost


def _copy(message: Message) -> Message:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy
