"""``spanmeter report --jaeger`` against a loopback server answering as Jaeger v2's api_v3 does:
``GET /api/v3/traces?query.service_name=...`` streams ``{"result": {"resourceSpans": [...]}}``
documents back to back; no trace in the window is a 404 with a gRPC NOT_FOUND error document.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from click.testing import CliRunner

from spanmeter import semconv
from spanmeter.cli import main
from support.traces import otlp_span, request_line

S = 10**9


def chunk(trace: int, durations: list[int], service: str = "checkout") -> bytes:
    spans = [otlp_span(trace, trace * 100 + i, None, "chat gpt-4o", 0, d * S, {
        semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: "gpt-4o", semconv.COST_USD: 0.01})
        for i, d in enumerate(durations)]  # fmt: skip
    return json.dumps({"result": json.loads(request_line(spans, service))}).encode()


class Jaeger:
    """A loopback api_v3 endpoint: ``answers`` is a list of (status, body chunks); the queries are recorded."""

    def __init__(self, status: int, chunks: list[bytes]):
        self.status, self.chunks, self.queries = status, chunks, []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                owner.queries.append((url.path, parse_qs(url.query)))
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                for part in owner.chunks:  # written separately, as grpc-gateway flushes each message
                    self.wfile.write(part)
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def report(url: str, *args: str):
    return CliRunner().invoke(main, ["report", "--jaeger", url, "--service", "checkout", *args])


def test_streamed_api_v3_documents_are_all_read_and_the_query_names_service_and_window():
    with Jaeger(200, [chunk(1, [1, 2]), b"\n", chunk(2, [3, 4, 5])]) as jaeger:
        result = report(jaeger.url, "--since", "2h", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["spans"] == 5
    model = data["groups"]["model"][0]
    assert (model["key"], model["calls"], model["p50_s"], model["cost_usd"]) == ("gpt-4o", 5, 3.0, pytest.approx(0.05))
    path, query = jaeger.queries[0]
    assert path == "/api/v3/traces"
    assert query["query.service_name"] == ["checkout"]
    start = datetime.fromisoformat(query["query.start_time_min"][0])
    end = datetime.fromisoformat(query["query.start_time_max"][0])
    assert (end - start).total_seconds() == pytest.approx(7200, abs=5)


def test_no_traces_in_the_window_is_an_empty_answer_reported_as_no_spans_with_or_without_json():
    not_found = json.dumps({"error": {"grpcCode": 5, "httpCode": 404, "message": "trace not found",
                                      "httpStatus": "Not Found"}}).encode()  # fmt: skip
    for args in (["--json"], []):  # one exit status for both outputs (issue 24)
        with Jaeger(404, [not_found]) as jaeger:
            result = report(jaeger.url, *args)
        assert result.exit_code == 1 and "no spans to report on" in result.output, args
        assert "Jaeger" not in result.output and result.stdout == ""  # not a failed query; no half a report


def test_a_failing_jaeger_is_one_line_naming_the_url():
    with Jaeger(500, [b'{"error": {"grpcCode": 13, "message": "storage down"}}']) as jaeger:
        result = report(jaeger.url)
    assert result.exit_code == 1
    assert "HTTP 500" in result.output and jaeger.url in result.output and "Traceback" not in result.output
    assert CliRunner().invoke(main, ["report", "--jaeger", jaeger.url]).exit_code == 2  # --service is required
