"""``spanmeter pipeline`` speaks OTLP as the specification says, to the official OpenTelemetry exporters.

Spans sent by opentelemetry-exporter-otlp-proto-grpc / -http arrive at a downstream
OTLP sink enriched (cost equal to genai-prices' price); JSON with hex ids, gzip, an
empty request, partial success; malformed protobuf / JSON are INVALID_ARGUMENT / 400
with a message; oversize is RESOURCE_EXHAUSTED / 413; bearer tokens are checked.
"""

from __future__ import annotations

import gzip
import http.client
import json
import urllib.error
import urllib.request

import grpc
import pytest
from genai_prices import Usage, calc_price
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from spanmeter.otlp.protocol import HTTP_PATHS, REQUESTS
from spanmeter.pipeline.config import Protocol
from spanmeter.pipeline.receivers import ACCEPTED
from spanmeter.pipeline.receivers.http import HttpReceiver
from support.otlp_requests import json_variants, rich_logs_request, rich_metrics_request, rich_trace_request
from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline, send_llm_spans, wait_until

pytestmark = pytest.mark.integration

TRACES_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
PRICE = float(calc_price(Usage(input_tokens=1200, output_tokens=350), "gpt-4o-mini", provider_id="openai").total_price)
TOKEN_EXTENSION = """
extensions:
  bearertokenauth:
    token: s3cret-token
"""
AUTH = """
        auth:
          authenticator: bearertokenauth"""


def _post(url: str, body: bytes, content_type: str, **headers: str) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _grpc_call(endpoint: str, body: bytes, metadata=()) -> bytes:
    with grpc.insecure_channel(endpoint) as channel:
        return channel.unary_unary(TRACES_METHOD)(body, timeout=5, metadata=metadata)


SPELLINGS = [
    (signal, variant)
    for signal, message in (("traces", rich_trace_request()), ("metrics", rich_metrics_request()),
                            ("logs", rich_logs_request()))
    for variant in json_variants(message)
]  # fmt: skip


@pytest.fixture(scope="module")
def json_receiver():
    """An OTLP/HTTP receiver on 127.0.0.1 that keeps what it decodes."""
    received = []

    def consume(name, transport, signal, request, raw, metadata):
        received.append((signal, request))
        return ACCEPTED

    protocol = Protocol("127.0.0.1", 0, tls=None, authenticator=None, max_request_bytes=1 << 20)
    receiver = HttpReceiver("otlp", protocol, consume, None, {"traces", "metrics", "logs"})
    receiver.start()
    yield f"http://127.0.0.1:{receiver.port}", received
    receiver.stop(1)


@pytest.mark.parametrize("case", SPELLINGS, ids=lambda case: f"{case[0]}: {case[1].label}")
def test_the_json_receiver_reads_every_spelling_as_protobufs_parser_does(json_receiver, case):
    base_url, received = json_receiver
    signal, variant = case
    received.clear()
    status, _, body = _post(base_url + HTTP_PATHS[signal], variant.text.encode(), "application/json")
    assert (status, json.loads(body)) == (200, {})
    assert received == [(signal, json_format.Parse(variant.protobuf_text, REQUESTS[signal]()))]


@pytest.mark.parametrize("signal", ["traces", "metrics", "logs"])
def test_a_json_body_of_the_wrong_shape_is_400_for_every_signal(json_receiver, signal):
    base_url, received = json_receiver
    received.clear()
    status, _, body = _post(base_url + HTTP_PATHS[signal], b'{"resourceSpans": 5, "resourceMetrics": 5, '
                            b'"resourceLogs": 5}', "application/json")  # fmt: skip
    assert status == 400 and f"cannot decode the OTLP/JSON {signal} request" in json.loads(body)["message"]
    assert received == []


def _json_request(trace_id: str = "5b8efff798038103d269b633813fc60c", span_id: str = "eee19b7ec3c1b174") -> bytes:
    span = {
        "traceId": trace_id, "spanId": span_id, "name": "chat gpt-4o-mini", "kind": 3,
        "startTimeUnixNano": "1700000000000000000", "endTimeUnixNano": 1700000000250000000,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
            {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": "1200"}},
            {"key": "gen_ai.usage.completion_tokens", "value": {"intValue": 350}},
        ],
        "status": {"code": 1}, "someFutureField": {"ignored": True},
    }  # fmt: skip
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]}
    return json.dumps({"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}).encode()


def test_official_grpc_and_http_exporters_deliver_enriched_spans(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        grpc_endpoint, http_endpoint = pipeline.endpoints["otlp/grpc"], pipeline.endpoints["otlp/http"]
        send_llm_spans(GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True), 3, service="grpc-app")
        send_llm_spans(HttpSpanExporter(endpoint=f"http://{http_endpoint}/v1/traces"), 2, service="http-app")
        spans = sink.wait_for_spans(5)
        wait_until(lambda: pipeline.metrics.value("otelcol_exporter_sent_spans") == 5)  # the sink answers first
        text = pipeline.metrics.prometheus_text()
        derived = pipeline.prometheus_text()
    assert len(spans) == 5
    for span in spans:
        values = attributes(span)
        assert values["spanmeter.cost.usd"] == pytest.approx(PRICE)
        assert values["spanmeter.cost.source"] == "genai-prices"
        assert values["gen_ai.usage.input_tokens"] == 1200
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 3' in text
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="http"} 2' in text
    assert 'otelcol_exporter_sent_spans_total{exporter="otlp_grpc/sink"} 5' in text
    # span metrics are on by default in the pipeline, and every series carries service.name
    assert (
        'traces_span_metrics_calls_total{job="grpc-app",service_name="grpc-app",span_name="chat gpt-4o-mini"' in derived
    )
    assert (
        'traces_span_metrics_calls_total{job="http-app",service_name="http-app",span_name="chat gpt-4o-mini"' in derived
    )


def test_http_json_with_hex_ids_older_names_and_gzip_answered_in_json(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        status, headers, body = _post(url, gzip.compress(_json_request()), "application/json",
                                      **{"Content-Encoding": "gzip"})  # fmt: skip
        (span,) = sink.wait_for_spans(1)
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {}
    assert span.trace_id.hex() == "5b8efff798038103d269b633813fc60c" and span.span_id.hex() == "eee19b7ec3c1b174"
    assert span.start_time_unix_nano == 1700000000000000000 and span.end_time_unix_nano == 1700000000250000000
    assert span.kind == 3 and span.status.code == 1
    assert attributes(span)["spanmeter.cost.usd"] == pytest.approx(PRICE)


def test_empty_requests_succeed_and_partial_success_names_rejected_spans(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        empty = trace_service_pb2.ExportTraceServiceResponse.FromString(
            _grpc_call(pipeline.endpoints["otlp/grpc"], b"")
        )
        status, _, body = _post(f"http://{pipeline.endpoints['otlp/http']}/v1/traces", b"{}", "application/json")
        two = json.loads(_json_request())
        spans = two["resourceSpans"][0]["scopeSpans"][0]["spans"]
        spans.append({**spans[0], "spanId": "abcd"})  # 2 bytes: not a span id
        status2, _, body2 = _post(f"http://{pipeline.endpoints['otlp/http']}/v1/traces", json.dumps(two).encode(),
                                  "application/json")  # fmt: skip
        assert len(sink.wait_for_spans(1)) == 1
    assert not empty.HasField("partial_success")
    assert status == 200 and json.loads(body) == {}
    assert status2 == 200
    partial = json.loads(body2)["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "span id" in partial["errorMessage"]


def test_malformed_protobuf_is_invalid_argument_over_grpc_and_400_over_http(tmp_path):
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        with pytest.raises(grpc.RpcError) as raised:
            _grpc_call(pipeline.endpoints["otlp/grpc"], b"\x0a\xff\xff\xff\xff\x0f")
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        status, headers, body = _post(url, b"\x0a\xff\xff\xff\xff\x0f", "application/x-protobuf")
        json_status, json_headers, json_body = _post(url, b'{"resourceSpans": [{"scopeSpans": 7}]', "application/json")
        bad_id_status, _, bad_id_body = _post(url, _json_request(trace_id="zz"), "application/json")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cannot decode" in raised.value.details()
    assert status == 400 and headers["Content-Type"] == "application/x-protobuf"
    rpc_status = status_pb2.Status.FromString(body)
    assert rpc_status.code == code_pb2.INVALID_ARGUMENT and "cannot decode" in rpc_status.message
    assert json_status == 400 and json_headers["Content-Type"] == "application/json"
    assert json.loads(json_body)["code"] == code_pb2.INVALID_ARGUMENT
    assert bad_id_status == 400 and "hex" in json.loads(bad_id_body)["message"].lower()
    assert sink.spans() == []


def test_oversize_requests_are_resource_exhausted_and_413_after_decompression(tmp_path):
    limits = "\n        max_recv_msg_size_mib: 1"
    config = basic_config("127.0.0.1:1", receiver_extra=limits).replace(
        "http:\n        endpoint: 127.0.0.1:0\n        max_recv_msg_size_mib: 1",
        "http:\n        endpoint: 127.0.0.1:0\n        max_request_body_size: 100000",
    )
    big = trace_service_pb2.ExportTraceServiceRequest()
    big.resource_spans.add().scope_spans.add().spans.add(name="x" * (2 << 20), trace_id=b"1" * 16, span_id=b"2" * 8)
    payload = big.SerializeToString()
    with running_pipeline(tmp_path, config, drain_timeout=0.5) as pipeline:
        with pytest.raises(grpc.RpcError) as raised:
            _grpc_call(pipeline.endpoints["otlp/grpc"], payload)
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        compressed = gzip.compress(payload)
        assert len(compressed) < 100_000  # small on the wire, too large once inflated
        status, _, body = _post(url, compressed, "application/x-protobuf", **{"Content-Encoding": "gzip"})
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status == 413
    assert status_pb2.Status.FromString(body).code == code_pb2.RESOURCE_EXHAUSTED


def test_bearer_token_auth_refuses_missing_and_wrong_tokens(tmp_path):
    config = basic_config("127.0.0.1:1", receiver_extra=AUTH, extensions=TOKEN_EXTENSION)
    request = trace_service_pb2.ExportTraceServiceRequest().SerializeToString()
    with running_pipeline(tmp_path, config, drain_timeout=0.5) as pipeline:
        grpc_endpoint, url = pipeline.endpoints["otlp/grpc"], f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        codes = []
        for metadata in ((), (("authorization", "Bearer wrong"),)):
            with pytest.raises(grpc.RpcError) as raised:
                _grpc_call(grpc_endpoint, request, metadata)
            codes.append(raised.value.code())
        good = _grpc_call(grpc_endpoint, request, (("authorization", "Bearer s3cret-token"),))
        missing = _post(url, request, "application/x-protobuf")[0]
        wrong = _post(url, request, "application/x-protobuf", Authorization="Bearer nope")[0]
        right = _post(url, request, "application/x-protobuf", Authorization="Bearer s3cret-token")[0]
    assert codes == [grpc.StatusCode.UNAUTHENTICATED] * 2
    assert good == b""
    assert (missing, wrong, right) == (401, 401, 200)


def test_spans_priced_upstream_are_not_priced_twice(tmp_path):
    upstream = {"spanmeter.cost.usd": 0.5, "spanmeter.cost.source": "override"}
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 1, **upstream)
        (span,) = sink.wait_for_spans(1)
        derived = pipeline.prometheus_text()
    values = attributes(span)
    assert values["spanmeter.cost.usd"] == 0.5 and values["spanmeter.cost.source"] == "override"
    cost_lines = [line for line in derived.splitlines() if line.startswith("spanmeter_cost_USD_total")]
    assert len(cost_lines) == 1 and 'spanmeter_cost_source="override"' in cost_lines[0]
    assert cost_lines[0].endswith(" 0.5")


def test_a_signal_no_pipeline_takes_is_unimplemented_not_silently_dropped(tmp_path):
    logs_method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
    with running_pipeline(tmp_path, basic_config("127.0.0.1:1"), drain_timeout=0.5) as pipeline:
        with pytest.raises(grpc.RpcError) as raised, grpc.insecure_channel(pipeline.endpoints["otlp/grpc"]) as channel:
            channel.unary_unary(logs_method)(b"", timeout=5)
        status, _, _ = _post(f"http://{pipeline.endpoints['otlp/http']}/v1/logs", b"", "application/x-protobuf")
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert status == 404


def _post_chunked(endpoint: str, body: bytes, chunk: int, **headers: str) -> tuple[int, bytes]:
    """POST ``body`` with ``Transfer-Encoding: chunked`` in ``chunk``-byte pieces, as streaming exporters send."""
    host, port = endpoint.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    pieces = (body[i : i + chunk] for i in range(0, len(body), chunk))
    connection.request("POST", "/v1/traces", pieces, {"Content-Type": "application/x-protobuf", **headers},
                       encode_chunked=True)  # fmt: skip
    response = connection.getresponse()
    try:
        return response.status, response.read()
    finally:
        connection.close()


def test_chunked_bodies_are_accepted_plain_and_gzipped_and_held_to_the_size_limit(tmp_path):
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="chat gpt-4o-mini")
    span.trace_id, span.span_id = b"\x01" * 16, b"\x02" * 8
    for key, value in {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                       "gen_ai.request.model": "gpt-4o-mini"}.items():  # fmt: skip
        span.attributes.add(key=key).value.string_value = value
    for key, value in {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 350}.items():
        span.attributes.add(key=key).value.int_value = value
    body = request.SerializeToString()
    config = basic_config("SINK").replace("endpoint: 127.0.0.1:0\nprocessors", "endpoint: 127.0.0.1:0\n"
                                          "        max_request_body_size: 100000\nprocessors")  # fmt: skip
    with otlp_sink() as sink, running_pipeline(tmp_path, config.replace("SINK", sink.endpoint)) as pipeline:
        endpoint = pipeline.endpoints["otlp/http"]
        plain = _post_chunked(endpoint, body, chunk=7)
        zipped = _post_chunked(endpoint, gzip.compress(body), chunk=5, **{"Content-Encoding": "gzip"})
        delivered = sink.wait_for_spans(2)
        too_large, answer = _post_chunked(endpoint, b"\x0a" * 150_000, chunk=4096)
    assert plain[0] == zipped[0] == 200
    assert [attributes(s)["spanmeter.cost.usd"] for s in delivered] == [pytest.approx(PRICE)] * 2
    assert too_large == 413 and status_pb2.Status.FromString(answer).code == code_pb2.RESOURCE_EXHAUSTED


def test_include_metadata_turns_a_tenant_header_into_the_team_attribute(tmp_path):
    config = basic_config("SINK", receiver_extra="\n        include_metadata: true").replace(
        "spanmeter: {}", "spanmeter:\n    metadata_attributes: {x-tenant: spanmeter.team}"
    )
    with otlp_sink() as sink, running_pipeline(tmp_path, config.replace("SINK", sink.endpoint)) as pipeline:
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        status, _, _ = _post(url, _json_request(), "application/json", **{"X-Tenant": "acme"})
        grpc_request = trace_service_pb2.ExportTraceServiceRequest()
        span = grpc_request.resource_spans.add().scope_spans.add().spans.add(name="chat gpt-4o-mini")
        span.trace_id, span.span_id = b"\x05" * 16, b"\x06" * 8
        _grpc_call(pipeline.endpoints["otlp/grpc"], grpc_request.SerializeToString(), metadata=(("x-tenant", "beta"),))
        spans = sink.wait_for_spans(2)
    assert status == 200
    assert sorted(attributes(span)["spanmeter.team"] for span in spans) == ["acme", "beta"]


def test_keepalive_takes_the_collectors_keys(tmp_path):
    keepalive = """
        keepalive:
          server_parameters:
            max_connection_age: 30s
            time: 10s
          enforcement_policy:
            min_time: 5s
            permit_without_stream: true"""
    text = basic_config("127.0.0.1:1").replace("grpc:\n        endpoint: 127.0.0.1:0", "grpc:\n        endpoint: "
                                               "127.0.0.1:0" + keepalive)  # fmt: skip
    with running_pipeline(tmp_path, text, drain_timeout=0.5) as pipeline:
        protocol = pipeline.config.receivers["otlp"].grpc
        assert _grpc_call(pipeline.endpoints["otlp/grpc"], b"") == b""
    assert dict(protocol.keepalive) == {
        "grpc.max_connection_age_ms": 30_000, "grpc.keepalive_time_ms": 10_000,
        "grpc.http2.min_ping_interval_without_data_ms": 5_000, "grpc.keepalive_permit_without_calls": 1,
    }  # fmt: skip


def _nested_span_request(depth: int, through: str) -> trace_service_pb2.ExportTraceServiceRequest:
    """One span whose attribute value nests ``depth`` AnyValues through arrays or key-value lists."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="deep", trace_id=b"\x01" * 16,
                                                                     span_id=b"\x02" * 8)  # fmt: skip
    value = span.attributes.add(key="k").value
    for _ in range(depth - 1):
        value = value.array_value.values.add() if through == "array" else value.kvlist_value.values.add(key="a").value
    value.string_value = "leaf"
    return request


@pytest.mark.parametrize(("through", "deepest"), [("array", 48), ("kvlist", 32)])
def test_one_nesting_limit_for_protobuf_and_json_answered_400_and_invalid_argument(tmp_path, through, deepest):
    from spanmeter.otlp.json_codec import to_json_line

    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        answers = {}
        for depth in (deepest, deepest + 1, 900):
            request = _nested_span_request(min(depth, 200), through)
            body = request.SerializeToString() if depth < 900 else b""
            json_body = to_json_line(request).encode() if depth < 900 else _deep_json(depth)
            grpc_code = None
            if body:
                try:
                    _grpc_call(pipeline.endpoints["otlp/grpc"], body)
                except grpc.RpcError as error:
                    grpc_code = error.code()
            answers[depth] = (grpc_code, _post(url, body, "application/x-protobuf")[0] if body else None,
                              _post(url, json_body, "application/json")[0])  # fmt: skip
        delivered = sink.wait_for_spans(3)
    assert answers[deepest] == (None, 200, 200)
    assert answers[deepest + 1] == (grpc.StatusCode.INVALID_ARGUMENT, 400, 400)
    assert answers[900][2] == 400  # far deeper than Python recurses: still one answer
    assert len(delivered) == 3


def _deep_json(depth: int) -> bytes:
    value = '{"stringValue": "leaf"}'
    for _ in range(depth - 1):
        value = '{"arrayValue": {"values": [' + value + "]}}"
    return ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "' + "01" * 16 + '", "spanId": "' + "02" * 8
            + '", "name": "deep", "attributes": [{"key": "k", "value": ' + value + "}]}]}]}]}").encode()  # fmt: skip
