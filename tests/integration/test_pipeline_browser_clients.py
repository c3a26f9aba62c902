"""A browser app sends OTLP/HTTP JSON to the pipeline across origins: headless Chromium does the
CORS preflight and the POST, and the receiver's ``cors`` decides (the Collector's keys)."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from support.browser import chromium
from support.pipeline import basic_config, otlp_sink, running_pipeline

pytestmark = pytest.mark.integration

SPAN = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeSpans": [{"spans": [{"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                                   "name": "click", "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}  # fmt: skip
PAGE = """<!doctype html><html><body><p id="result">pending</p><script>
fetch(%s, {method: "POST", headers: {"Content-Type": "application/json"}, body: %s})
  .then(r => { document.getElementById("result").textContent = "status " + r.status; })
  .catch(e => { document.getElementById("result").textContent = "blocked " + e; });
</script></body></html>"""


class _Page(http.server.BaseHTTPRequestHandler):
    html = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(self.html)))
        self.end_headers()
        self.wfile.write(self.html)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def _browser_posts(tmp_path, receiver: str) -> tuple[str, str]:
    """(the page's origin, what the page saw) after Chromium loads it and it POSTs a span to ``receiver``."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), type("Page", (_Page,), {}))
    server.RequestHandlerClass.html = (PAGE % (json.dumps(f"http://{receiver}/v1/traces"),
                                               json.dumps(json.dumps(SPAN)))).encode()  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        run = chromium("--virtual-time-budget=10000", "--dump-dom", origin + "/", profile=tmp_path / "profile")
    finally:
        server.shutdown()
        server.server_close()
    return origin, run.stdout


def _cors(origins: str) -> str:
    return basic_config("SINK").replace(
        "http:\n        endpoint: 127.0.0.1:0",
        f"http:\n        endpoint: 127.0.0.1:0\n        cors:\n          allowed_origins: [{origins}]\n"
        "          max_age: 600",
    )


def test_a_browser_on_an_allowed_origin_gets_its_span_through(tmp_path):
    with (
        otlp_sink() as sink,
        running_pipeline(tmp_path, _cors('"http://127.0.0.1:*"').replace("SINK", sink.endpoint)) as pipeline,
    ):
        _, page = _browser_posts(tmp_path, pipeline.endpoints["otlp/http"])
        (span,) = sink.wait_for_spans(1)
    assert "status 200" in page
    assert span.name == "click"


def test_a_browser_on_another_origin_is_refused_by_the_preflight(tmp_path):
    with (
        otlp_sink() as sink,
        running_pipeline(tmp_path, _cors('"https://app.example.com"').replace("SINK", sink.endpoint)) as pipeline,
    ):
        _, page = _browser_posts(tmp_path, pipeline.endpoints["otlp/http"])
        spans = sink.wait_for_spans(1, timeout=1.0)
    assert "blocked" in page
    assert spans == []
