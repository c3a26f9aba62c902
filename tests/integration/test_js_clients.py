"""The official OpenTelemetry JS exporter (Node.js) delivers through ``spanmeter pipeline``.

tests/js/ holds the npm packages at locked versions (``npm ci`` in scripts/test.sh). Its
OTLP/HTTP exporter streams the request body (``Transfer-Encoding: chunked``), which the
receiver once refused for want of a Content-Length.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from support.pipeline import attributes, basic_config, otlp_sink, running_pipeline

pytestmark = pytest.mark.integration

JS = Path(__file__).resolve().parents[1] / "js"


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (JS / "node_modules" / "@opentelemetry" / "exporter-trace-otlp-proto").is_dir():
        pytest.fail("Node.js and tests/js/node_modules are needed: bash scripts/test.sh installs them (npm ci)")
    return node


def test_the_js_otlp_http_exporter_delivers_every_span_priced(tmp_path):
    node = _node()
    with otlp_sink() as sink, running_pipeline(tmp_path, basic_config(sink.endpoint)) as pipeline:
        url = f"http://{pipeline.endpoints['otlp/http']}/v1/traces"
        run = subprocess.run([node, str(JS / "send_llm_spans.mjs"), url, "80"], capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
        assert run.returncode == 0, run.stderr
        delivered = sink.wait_for_spans(80)
    assert json.loads(run.stdout) == {"sent": 80}
    assert len(delivered) == 80
    costs = {attributes(span).get("spanmeter.cost.usd") for span in delivered}
    assert len(costs) == 1 and costs.pop() > 0
