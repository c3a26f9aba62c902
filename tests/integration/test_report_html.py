"""``spanmeter report --html`` opened in headless Chromium (Debian's ``chromium``): a screenshot is
taken, every chart is laid out with marks in it, and the console shows no error.
"""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from spanmeter import semconv
from spanmeter.cli import main
from support.browser import chromium
from support.traces import otlp_span, request_line

pytestmark = pytest.mark.integration

S = 10**9
CHARTS = ("cost-over-time", "latency-by-model", "cost-per-gb", "anomalies")


def traces_with_everything() -> list[str]:
    """Two models over two hours, stages over two sources, some anomalies."""
    lines = []
    for index in range(120):
        model = "gpt-4o" if index % 3 else "gpt-4o-mini"
        attributes = {semconv.GEN_AI_OPERATION_NAME: "chat", semconv.GEN_AI_REQUEST_MODEL: model,
                      semconv.GEN_AI_USAGE_INPUT_TOKENS: 400, semconv.GEN_AI_USAGE_OUTPUT_TOKENS: 80,
                      semconv.COST_USD: 0.002 if model == "gpt-4o" else 0.0002}  # fmt: skip
        if index % 17 == 0:
            attributes |= {semconv.ANOMALY: True, semconv.ANOMALY_REASONS: ["latency"], semconv.ANOMALY_SCORE: 4.5}
        chat = otlp_span(index + 1, 1, None, f"chat {model}", index * 60 * S, (1 + index % 7) * S // 4, attributes)
        stage = otlp_span(index + 1, 2, None, "run_stage load", index * 60 * S, S, {
            semconv.SPANMETER_OPERATION_NAME: "run_stage", semconv.DATA_SOURCE: f"source-{index % 2}",
            semconv.DATA_BYTES: 2 * 10**8, semconv.COST_COMPUTE_USD: 0.001, semconv.COST_TOTAL_USD: 0.001,
            semconv.COST_PER_GB_USD: 0.005})  # fmt: skip
        lines.append(request_line([chat, stage]))
    return lines


def test_html_report_renders_its_charts_in_headless_chromium(tmp_path):
    traces, page, shot = tmp_path / "t.jsonl", tmp_path / "report.html", tmp_path / "shot.png"
    traces.write_text("".join(traces_with_everything()))
    result = CliRunner().invoke(main, ["report", str(traces), "--html", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing fetched at view time

    shoot = chromium("--window-size=1280,2400", f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "p1")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", shoot.stderr[-2000:]
    dump = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "p2")

    dom = dump.stdout
    for chart in CHARTS:
        figure = dom[dom.index(f'<figure id="{chart}"') :]
        figure = figure[: figure.index("</figure>")]
        svgs = re.findall(r'<svg class="chart"[^>]*data-rendered="(\d+)x(\d+)"[^>]*data-marks="(\d+)"', figure)
        assert svgs, f"{chart} was not laid out: {figure[:300]}"
        for width, height, marks in svgs:
            assert int(width) > 0 and int(height) > 0 and int(marks) > 0, (chart, width, height, marks)
    assert dom.count('data-rendered="') == 3 + 2  # one latency chart per model
    logs = shoot.stderr + dump.stderr
    assert "Uncaught" not in logs
    assert not re.search(r"CONSOLE.*(error|Error)", logs), logs[-2000:]
