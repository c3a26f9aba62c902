"""TLS and mTLS on the pipeline's receivers (gRPC and HTTP) and on its OTLP exporter, with certificates
made by the test; the official exporters are the clients."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter

from support.certs import make_certificates
from support.pipeline import FAST_RETRY, attributes, basic_config, otlp_sink, running_pipeline, send_llm_spans

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _no_ca_bundle_override(monkeypatch):
    """requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace the exporter's certificate_file: unset them."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _receiver_tls(certs, mutual: bool) -> str:
    client_ca = f"\n          client_ca_file: {certs.ca}" if mutual else ""
    return f"""
        tls:
          cert_file: {certs.server_cert}
          key_file: {certs.server_key}{client_ca}"""


def _grpc_credentials(certs, with_client_cert: bool) -> grpc.ChannelCredentials:
    client = {}
    if with_client_cert:
        client = {"private_key": certs.client_key.read_bytes(), "certificate_chain": certs.client_cert.read_bytes()}
    return grpc.ssl_channel_credentials(root_certificates=certs.ca.read_bytes(), **client)


def test_tls_receivers_accept_the_official_exporters(tmp_path):
    certs = make_certificates(tmp_path)
    config = basic_config("SINK", receiver_extra=_receiver_tls(certs, mutual=False))
    with otlp_sink() as sink, running_pipeline(tmp_path, config.replace("SINK", sink.endpoint)) as pipeline:
        grpc_exporter = GrpcSpanExporter(endpoint=f"https://{pipeline.endpoints['otlp/grpc']}",
                                         credentials=_grpc_credentials(certs, False))  # fmt: skip
        send_llm_spans(grpc_exporter, 1)
        http_exporter = HttpSpanExporter(endpoint=f"https://{pipeline.endpoints['otlp/http']}/v1/traces",
                                         certificate_file=str(certs.ca))  # fmt: skip
        send_llm_spans(http_exporter, 1)
        assert len(sink.wait_for_spans(2)) == 2


def test_mtls_receivers_refuse_clients_without_a_certificate(tmp_path):
    certs = make_certificates(tmp_path)
    config = basic_config("SINK", receiver_extra=_receiver_tls(certs, mutual=True))
    with otlp_sink() as sink, running_pipeline(tmp_path, config.replace("SINK", sink.endpoint)) as pipeline:
        grpc_url, http_url = f"https://{pipeline.endpoints['otlp/grpc']}", f"https://{pipeline.endpoints['otlp/http']}"
        anonymous = GrpcSpanExporter(endpoint=grpc_url, credentials=_grpc_credentials(certs, False), timeout=2)
        send_llm_spans(anonymous, 1)
        send_llm_spans(HttpSpanExporter(endpoint=f"{http_url}/v1/traces", certificate_file=str(certs.ca), timeout=2), 1)
        refused = len(sink.spans())
        send_llm_spans(GrpcSpanExporter(endpoint=grpc_url, credentials=_grpc_credentials(certs, True)), 1)
        http_exporter = HttpSpanExporter(endpoint=f"{http_url}/v1/traces", certificate_file=str(certs.ca),
                                         client_certificate_file=str(certs.client_cert),
                                         client_key_file=str(certs.client_key))  # fmt: skip
        send_llm_spans(http_exporter, 1)
        accepted = len(sink.wait_for_spans(2))
        text = pipeline.metrics.prometheus_text()
    assert refused == 0
    assert accepted == 2
    assert 'otelcol_receiver_accepted_spans_total{receiver="otlp",transport="grpc"} 1' in text


def test_otlp_exporter_sends_over_mtls(tmp_path):
    certs = make_certificates(tmp_path)
    server_credentials = grpc.ssl_server_credentials(
        [(certs.server_key.read_bytes(), certs.server_cert.read_bytes())],
        root_certificates=certs.ca.read_bytes(),
        require_client_auth=True,
    )
    exporter_tls = f"""
    tls:
      ca_file: {certs.ca}
      cert_file: {certs.client_cert}
      key_file: {certs.client_key}{FAST_RETRY}"""
    with otlp_sink(credentials=server_credentials) as sink:
        config = basic_config(sink.endpoint).replace(f"    tls:\n      insecure: true{FAST_RETRY}", exporter_tls)
        with running_pipeline(tmp_path, config) as pipeline:
            send_llm_spans(GrpcSpanExporter(endpoint=pipeline.endpoints["otlp/grpc"], insecure=True), 2)
            assert len(sink.wait_for_spans(2)) == 2


def test_otlp_http_exporter_sends_over_mtls(tmp_path):
    certs = make_certificates(tmp_path)
    relay_config = f"""
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0{_receiver_tls(certs, mutual=True)}
exporters:
  otlp_grpc/sink:
    endpoint: SINK
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp_grpc/sink]
"""
    front_config = f"""
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:0
processors:
  spanmeter: {{}}
exporters:
  otlp_http/relay:
    endpoint: https://RELAY
    tls:
      ca_file: {certs.ca}
      cert_file: {certs.client_cert}
      key_file: {certs.client_key}{FAST_RETRY}
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlp_http/relay]
"""
    relay_directory, front_directory = tmp_path / "relay", tmp_path / "front"
    relay_directory.mkdir()
    front_directory.mkdir()
    with otlp_sink() as sink, running_pipeline(relay_directory, relay_config.replace("SINK", sink.endpoint)) as relay:
        front_text = front_config.replace("RELAY", relay.endpoints["otlp/http"])
        with running_pipeline(front_directory, front_text) as front:
            send_llm_spans(GrpcSpanExporter(endpoint=front.endpoints["otlp/grpc"], insecure=True), 2)
            delivered = sink.wait_for_spans(2)
    assert len(delivered) == 2
    assert all(attributes(span)["spanmeter.cost.usd"] > 0 for span in delivered)  # priced by the front pipeline
