"""``spanmeter report --html`` opened in headless Chromium (Debian's ``chromium``) at 800 and 1400 px:
every chart is laid out with marks in it, no label overlaps another label or a mark (checked from
the elements' boxes, which a script added to a copy of the page writes into the DOM), nothing is
wider than the window, trace ids link to the viewer ``--trace-url`` names, and the console shows
no error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from spanmeter import semconv
from spanmeter.cli import main
from support.browser import chromium
from support.report_runs import write_short_run
from support.traces import otlp_span, request_line

pytestmark = pytest.mark.integration

S = 10**9
CHARTS = ("cost-over-time", "calls-over-time", "p95-over-time", "latency-by-model", "cost-per-gb", "anomalies")
TRACE_URL = "http://jaeger.example:16686/trace/{trace_id}"
BOXES = """<pre id="boxes"></pre><script>
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const charts = [...document.querySelectorAll('svg.chart')].map(svg => ({
  figure: svg.closest('figure').id, box: box(svg),
  texts: [...svg.querySelectorAll('text')].map(t => ({text: t.textContent, box: box(t)})),
  marks: [...svg.querySelectorAll('rect,circle')].map(box)}));
document.getElementById('boxes').textContent = JSON.stringify({
  width: window.innerWidth, scroll_width: document.documentElement.scrollWidth, charts,
  links: [...document.querySelectorAll('a.trace')].map(a => a.getAttribute('href')),
  cells: [...document.querySelectorAll('td')].map(td => [td.textContent, getComputedStyle(td).textAlign])});
</script></body>"""


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


def render(tmp_path: Path, traces: Path, *options: str) -> tuple[Path, str]:
    page = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(traces), "--html", str(page), *options])
    assert result.exit_code == 0, result.output
    return page, page.read_text()


def laid_out(tmp_path: Path, page: Path, width: int) -> tuple[dict, str]:
    """The boxes of every chart's labels and marks at ``width`` px, and the browser's log."""
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(page.read_text().replace("</body>", BOXES))
    dump = chromium(f"--window-size={width},2400", "--dump-dom", probe.as_uri(), profile=tmp_path / f"p{width}")
    found = re.search(r'<pre id="boxes">(.*?)</pre>', dump.stdout, re.DOTALL)
    assert found and found.group(1), dump.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<")
                      .replace("&gt;", ">")), dump.stderr  # fmt: skip


def overlap(a: list[float], b: list[float]) -> bool:
    """Boxes that share more than a pixel's sliver."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5


NUMBER = re.compile(r"^-?\$?\d{1,3}(,\d{3})*(\.\d+)?(%| ms| s|/GB)?$")  # as fmt_value writes them


def assert_readable(layout: dict) -> None:
    assert layout["scroll_width"] <= layout["width"], layout["scroll_width"]  # nothing wider than the window
    for text, align in layout["cells"]:  # numbers right, text left ("-", no value, sits in its column's way)
        assert text in ("-", "") or align == ("right" if NUMBER.match(text) else "left"), (text, align)
    for chart in layout["charts"]:
        left, top, right, bottom = chart["box"]
        assert right - left > 200 and bottom - top > 40 and right <= layout["width"], chart["figure"]
        texts = chart["texts"]
        for index, text in enumerate(texts):
            assert left - 0.5 <= text["box"][0] and text["box"][2] <= right + 0.5, (chart["figure"], text)
            for other in texts[index + 1 :]:
                assert not overlap(text["box"], other["box"]), (chart["figure"], text, other)
            for mark in chart["marks"]:
                assert not overlap(text["box"], mark), (chart["figure"], text, mark)


@pytest.mark.parametrize("width", [800, 1400])
def test_a_short_run_reads_at_800_and_1400_px_with_trace_links(tmp_path, width):
    traces = tmp_path / "run.jsonl"
    write_short_run(traces, seconds=40)
    page, text = render(tmp_path, traces, "--trace-url", TRACE_URL)
    assert not re.search(r"""src=["']?(https?:)?//""", text)  # nothing fetched at view time
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.DOTALL).group(1).replace("<\\/", "</"))
    assert len(data["timeline"]["buckets"]) >= 10

    layout, logs = laid_out(tmp_path, page, width)

    figures = {chart["figure"] for chart in layout["charts"]}
    assert {"cost-over-time", "calls-over-time", "p95-over-time", "latency-by-model"} <= figures
    assert_readable(layout)
    ids = {trace["trace_id"] for key in ("slowest_traces", "most_expensive_traces") for trace in data[key]}
    assert ids and set(layout["links"]) == {TRACE_URL.format(trace_id=trace_id) for trace_id in ids}
    assert "Uncaught" not in logs


def test_html_report_renders_every_chart_in_headless_chromium(tmp_path):
    traces, shot = tmp_path / "t.jsonl", tmp_path / "shot.png"
    traces.write_text("".join(traces_with_everything()))
    page, text = render(tmp_path, traces)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # no --trace-url: no links at all

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
    assert dom.count('data-rendered="') == 5 + 2  # one latency chart per model
    assert "e+0" not in dom  # no exponent notation anywhere
    layout, logs = laid_out(tmp_path, page, 800)
    assert_readable(layout)
    logs += shoot.stderr + dump.stderr
    assert "Uncaught" not in logs
    assert not re.search(r"CONSOLE.*(error|Error)", logs), logs[-2000:]
