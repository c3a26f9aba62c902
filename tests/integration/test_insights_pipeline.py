"""The Insights API of a running pipeline: spans sent with the official OTLP exporter, then
each RPC over real gRPC on loopback, with values checked against genai-prices; an injected
latency spike listed and streamed; budget utilization; the receivers' token auth."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from spanmeter.v1 import insights_pb2 as pb
from spanmeter.v1 import insights_pb2_grpc
from support.pipeline import LLM_ATTRIBUTES, otlp_sink, running_pipeline, wait_until

pytestmark = pytest.mark.integration
TOKEN = "s3cret-insights-token"
BUDGET_USD = 0.01
WARM_UP = 12
PRICE = float(calc_price(Usage(input_tokens=1200, output_tokens=350), "gpt-4o-mini", provider_id="openai").total_price)


def _config(sink_endpoint: str) -> str:
    return f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  spanmeter:
    budget_daily_usd: {BUDGET_USD}
    anomaly_min_samples: 10
    insights:
      endpoint: 127.0.0.1:0
      auth:
        authenticator: bearertokenauth
extensions:
  bearertokenauth:
    token: {TOKEN}
exporters:
  otlp_grpc/sink:
    endpoint: {sink_endpoint}
    tls:
      insecure: true
service:
  extensions: [bearertokenauth]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlp_grpc/sink]
"""


class Sender:
    """LLM spans with chosen durations, through the official OTLP/gRPC exporter, one batch each."""

    def __init__(self, endpoint: str, service: str):
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        self.provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
        self.tracer = self.provider.get_tracer("insights-test")

    def call(self, duration_s: float, agent: str) -> None:
        start = time.time_ns() - int(duration_s * 1e9)
        span = self.tracer.start_span(
            "chat gpt-4o-mini", attributes={**LLM_ATTRIBUTES, "gen_ai.agent.name": agent}, start_time=start
        )
        span.end(end_time=start + int(duration_s * 1e9))

    def close(self) -> None:
        self.provider.shutdown()


@pytest.fixture
def pipeline(tmp_path):
    """(service, an authorized Insights stub, its target, the trace sink, the sender's endpoint)."""
    with otlp_sink() as sink, running_pipeline(tmp_path, _config(sink.endpoint)) as service:
        target = service.endpoints["insights/spanmeter"]
        with grpc.insecure_channel(target) as channel:
            yield service, insights_pb2_grpc.InsightsStub(channel), target, sink, service.endpoints["otlp/grpc"]


def _auth(token: str = TOKEN) -> tuple:
    return (("authorization", f"Bearer {token}"),)


def test_every_rpc_answers_from_what_the_pipeline_processed(pipeline):
    _, stub, _, sink, endpoint = pipeline
    checkout, search = Sender(endpoint, "checkout"), Sender(endpoint, "search")
    for index in range(WARM_UP):
        checkout.call(0.010 + 0.001 * (index % 3), agent="planner")
    search.call(0.010, agent="writer")
    checkout.call(2.0, agent="planner")  # 200x the baseline: a latency anomaly
    checkout.close(), search.close()
    calls = WARM_UP + 2
    sink.wait_for_spans(calls)

    by_model = stub.GetCostSummary(pb.GetCostSummaryRequest(), metadata=_auth())
    (row,) = by_model.rows
    assert (row.key, row.calls, row.input_tokens, row.output_tokens, row.unpriced_calls) == (
        "gpt-4o-mini", calls, 1200 * calls, 350 * calls, 0,
    )  # fmt: skip
    assert row.cost_usd == pytest.approx(PRICE * calls, rel=1e-9)
    assert by_model.total.cost_usd == pytest.approx(PRICE * calls, rel=1e-9)

    by_service = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_SERVICE), metadata=_auth())
    assert [(r.key, r.calls) for r in by_service.rows] == [("checkout", calls - 1), ("search", 1)]
    by_agent = stub.GetCostSummary(pb.GetCostSummaryRequest(group_by=pb.GROUP_BY_AGENT), metadata=_auth())
    assert {r.key: r.cost_usd for r in by_agent.rows} == pytest.approx(
        {"planner": PRICE * (calls - 1), "writer": PRICE}, rel=1e-9
    )

    (anomaly,) = stub.ListAnomalies(pb.ListAnomaliesRequest(), metadata=_auth()).anomalies
    assert (anomaly.service, anomaly.span_name, anomaly.agent) == ("checkout", "chat gpt-4o-mini", "planner")
    assert "latency" in anomaly.reasons and anomaly.score > 3
    latency = next(v for v in anomaly.values if v.reason == "latency")
    assert latency.value == pytest.approx(2.0, rel=1e-6)
    assert 0.009 < latency.baseline < 0.013
    spike = next(s for s in sink.spans() if s.end_time_unix_nano - s.start_time_unix_nano == 2_000_000_000)
    assert (anomaly.trace_id, anomaly.span_id) == (spike.trace_id.hex(), spike.span_id.hex())

    (day,) = stub.GetBudgetStatus(pb.GetBudgetStatusRequest(), metadata=_auth()).windows
    assert day.window == "day" and day.budget_usd == BUDGET_USD
    assert day.spend_usd == pytest.approx(PRICE * calls, rel=1e-9)
    assert day.utilization == pytest.approx(PRICE * calls / BUDGET_USD, rel=1e-9)
    assert day.projected_usd >= day.spend_usd
    assert day.end_time_unix_nano - day.start_time_unix_nano == 86_400 * 10**9


def test_watch_anomalies_delivers_a_flagged_span_within_a_second(pipeline):
    service, stub, _, sink, endpoint = pipeline
    sender = Sender(endpoint, "checkout")
    for _ in range(WARM_UP):
        sender.call(0.010, agent="planner")
    sink.wait_for_spans(WARM_UP)
    store = service.stages["traces/spanmeter"].insights
    stream = stub.WatchAnomalies(pb.WatchAnomaliesRequest(), metadata=_auth())
    received: list[tuple[pb.Anomaly, float]] = []
    reader = threading.Thread(target=lambda: received.append((next(stream), time.monotonic())), daemon=True)
    reader.start()
    assert wait_until(lambda: store._watchers), "the stream registered"
    sent_at = time.monotonic()
    sender.call(3.0, agent="planner")
    reader.join(timeout=5)
    stream.cancel()
    sender.close()
    assert received, "no anomaly streamed"
    anomaly, arrived_at = received[0]
    assert "latency" in anomaly.reasons
    assert arrived_at - sent_at < 1.0, f"streamed after {arrived_at - sent_at:.2f} s"


def test_the_api_takes_the_receivers_bearer_token(pipeline):
    _, stub, _, _, _ = pipeline
    for metadata in ((), _auth("wrong")):
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetCostSummary(pb.GetCostSummaryRequest(), metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stub.GetCostSummary(pb.GetCostSummaryRequest(), metadata=_auth()).total.calls == 0
