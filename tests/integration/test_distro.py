"""Zero-code setup through the real ``opentelemetry-instrument``, whichever distro and configurator it loads.

The app below uses only the manual API and a plain tracer span carrying GenAI usage
(as any LLM instrumentor's span does), so what the files show is spanmeter's
processing: the LLM span priced, the agent span carrying the roll-up.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from bench import llm_fakes
from spanmeter import semconv
from spanmeter.report import read_metric_requests, read_spans
from support.entry_points import instrumentor_names
from support.metrics import metric_names

TESTS = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.integration

APP = textwrap.dedent(
    """
    import spanmeter
    from opentelemetry import trace

    @spanmeter.agent("planner")
    def plan():
        attributes = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini", "gen_ai.response.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 200,
        }
        with trace.get_tracer("app").start_as_current_span("chat gpt-4o-mini", attributes=attributes):
            pass

    plan()
    print("app done")
    """
)
OTHER_CONFIGURATOR_NOTICE = "spanmeter: the OpenTelemetry SDK was set up by another configurator"


@pytest.fixture
def app(tmp_path):
    script = tmp_path / "app.py"
    script.write_text(APP)
    return script


def expected_llm_usd() -> float:
    usage = Usage(input_tokens=1000, output_tokens=200)
    return float(calc_price(usage, model_ref="gpt-4o-mini", provider_id="openai").total_price)


def assert_enriched(spans) -> None:
    """The LLM span is priced and the agent span carries it as its roll-up total."""
    by_name = {span.name: span for span in spans}
    llm, agent = by_name["chat gpt-4o-mini"], by_name["invoke_agent planner"]
    assert llm.parent_span_id == agent.span_id
    assert llm.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
    assert llm.attributes[semconv.COST_USD] == pytest.approx(expected_llm_usd(), rel=1e-9)
    assert agent.attributes[semconv.COST_TOTAL_USD] == pytest.approx(expected_llm_usd(), rel=1e-9)


def test_spanmeter_distro_defaults_to_files_in_the_working_directory(app, tmp_path, run_instrumented):
    run = run_instrumented(app, tmp_path, OTEL_PYTHON_DISTRO="spanmeter", OTEL_PYTHON_CONFIGURATOR="spanmeter")

    assert "app done" in run.stdout
    assert OTHER_CONFIGURATOR_NOTICE not in run.stderr
    assert_enriched(list(read_spans(tmp_path / "spanmeter-traces.jsonl")))
    assert {semconv.METRIC_COST, semconv.METRIC_SPAN_DURATION} <= metric_names(
        read_metric_requests(tmp_path / "spanmeter-metrics.jsonl")
    )


@pytest.mark.parametrize(
    ("exporter", "traces_file"),
    [("spanmeter_file", "spanmeter-traces.jsonl"), ("spanmeter_file", "/no/such/dir/t.jsonl"), ("console", None)],
)
def test_processing_applies_under_opentelemetry_distro_and_says_so(
    app, tmp_path, run_instrumented, exporter, traces_file
):
    """An unwritable traces file: the default file, as the warning says, whichever configurator built the exporter."""
    run = run_instrumented(
        app, tmp_path,
        OTEL_PYTHON_DISTRO="distro", OTEL_PYTHON_CONFIGURATOR="configurator",
        OTEL_TRACES_EXPORTER=exporter, OTEL_METRICS_EXPORTER="none",
        **({"SPANMETER_TRACES_FILE": traces_file} if traces_file else {}),
    )  # fmt: skip

    exporter_class = {"spanmeter_file": "OTLPFileSpanExporter", "console": "ConsoleSpanExporter"}[exporter]
    notice = next(line for line in run.stderr.splitlines() if OTHER_CONFIGURATOR_NOTICE in line)
    assert "OTEL_PYTHON_CONFIGURATOR=configurator" in notice
    assert exporter_class in notice
    if exporter == "spanmeter_file":
        assert_enriched(list(read_spans(tmp_path / "spanmeter-traces.jsonl")))
        unwritable = f"cannot write '{traces_file}' (no directory /no/such/dir); using the default"
        assert (unwritable in run.stderr) == traces_file.startswith("/no/")
    else:  # ConsoleSpanExporter prints each span's attributes as JSON
        assert f'"{semconv.COST_SOURCE}": "{semconv.COST_SOURCE_GENAI_PRICES}"' in run.stdout
        assert f'"{semconv.COST_TOTAL_USD}": ' in run.stdout


def test_opentelemetry_distro_defaults_to_otlp_and_the_spans_arrive_priced(
    app, tmp_path, run_instrumented, otlp_receiver
):
    """The pitfall as users meet it: opentelemetry-distro's own default exporters (otlp)."""
    run = run_instrumented(
        app, tmp_path,
        OTEL_PYTHON_DISTRO="distro", OTEL_PYTHON_CONFIGURATOR="configurator",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.url,
    )  # fmt: skip

    assert "OTLPSpanExporter (OTEL_TRACES_EXPORTER=otlp)" in run.stderr
    llm = next(span for span in otlp_receiver.spans() if span.name == "chat gpt-4o-mini")
    attributes = {kv.key: kv.value for kv in llm.attributes}
    assert attributes[semconv.COST_SOURCE].string_value == semconv.COST_SOURCE_GENAI_PRICES
    assert otlp_receiver.metric_requests
    assert not (tmp_path / "spanmeter-traces.jsonl").exists()


def test_processing_applies_with_whichever_distro_comes_first(app, tmp_path, run_instrumented):
    """No OTEL_PYTHON_DISTRO / _CONFIGURATOR: opentelemetry-instrument takes the first installed."""
    run_instrumented(app, tmp_path, OTEL_TRACES_EXPORTER="spanmeter_file", OTEL_METRICS_EXPORTER="none")

    assert_enriched(list(read_spans(tmp_path / "spanmeter-traces.jsonl")))


def test_file_and_otlp_exporters_both_receive_the_enriched_spans(app, tmp_path, run_instrumented, otlp_receiver):
    run_instrumented(
        app, tmp_path,
        OTEL_PYTHON_DISTRO="spanmeter", OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_TRACES_EXPORTER="spanmeter_file,otlp", OTEL_METRICS_EXPORTER="spanmeter_file,otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.url,
    )  # fmt: skip

    from_file = list(read_spans(tmp_path / "spanmeter-traces.jsonl"))
    assert_enriched(from_file)
    received = {span.span_id.hex(): span for span in otlp_receiver.spans()}
    assert received.keys() == {span.span_id for span in from_file}
    llm = next(span for span in from_file if span.name == "chat gpt-4o-mini")
    received_attributes = {kv.key for kv in received[llm.span_id].attributes}
    assert {semconv.COST_USD, semconv.COST_SOURCE} <= received_attributes
    assert otlp_receiver.metric_requests
    assert (tmp_path / "spanmeter-metrics.jsonl").stat().st_size > 0


def test_configure_from_code_sets_up_the_sdk_with_its_arguments_winning(tmp_path, run_command):
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(
        """
        import spanmeter

        spanmeter.configure(compute_usd_per_hour=36)

        with spanmeter.stage("load", source="orders"):
            spanmeter.record_data(bytes=1_000_000, records=10)
        """
    ))  # fmt: skip

    run_command([sys.executable, str(script)], tmp_path, SPANMETER_COMPUTE_USD_PER_HOUR="1")

    (stage,) = read_spans(tmp_path / "spanmeter-traces.jsonl")
    assert stage.attributes[semconv.COST_COMPUTE_USD] == pytest.approx(stage.duration_ms / 1e3 * 36 / 3600)
    assert semconv.METRIC_DATA_PROCESSED in metric_names(read_metric_requests(tmp_path / "spanmeter-metrics.jsonl"))


OPENAI_APP = textwrap.dedent(
    """
    import json
    import sys

    import spanmeter

    spanmeter.configure(**json.loads(sys.argv[1]))

    from bench import llm_fakes
    from support import openai_fakes  # the app's `import openai`, after configure()

    client = openai_fakes.server(llm_fakes.openai_chat_body()).client()
    with spanmeter.stage("answer"):
        client.chat.completions.create(model=openai_fakes.MODEL, messages=openai_fakes.MESSAGES)
    """
)


@pytest.mark.parametrize(
    ("arguments", "env", "priced_calls"),
    [
        ("{}", {}, 1),
        ("{}", {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "spanmeter_anthropic, spanmeter_openai"}, 0),
        ("{}", {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*"}, 0),
        ('{"instrument": false}', {}, 0),
    ],
    ids=["instrumented", "disabled-by-name", "all-disabled", "instrument=False"],
)
def test_configure_instruments_the_openai_sdk_the_app_imports(tmp_path, run_command, arguments, env, priced_calls):
    """The README's in-code set-up: one chat call through the real openai SDK is a priced span."""
    script = tmp_path / "app.py"
    script.write_text(OPENAI_APP)

    run_command([sys.executable, str(script), arguments], tmp_path, PYTHONPATH=str(TESTS), **env)

    spans = list(read_spans(tmp_path / "spanmeter-traces.jsonl"))
    calls = [span for span in spans if span.name == f"chat {llm_fakes.OPENAI_MODEL}"]
    assert len(spans) == 1 + priced_calls and len(calls) == priced_calls
    usage = Usage(input_tokens=llm_fakes.INPUT_TOKENS, output_tokens=llm_fakes.OUTPUT_TOKENS)
    price = float(calc_price(usage, model_ref=llm_fakes.OPENAI_RESPONSE_MODEL, provider_id="openai").total_price)
    for call in calls:
        assert call.attributes[semconv.COST_SOURCE] == semconv.COST_SOURCE_GENAI_PRICES
        assert call.attributes[semconv.COST_USD] == pytest.approx(price, rel=1e-9)


BAD_PRICE_FILE = "openai:\n  gpt-4o-mini: {input: 1\n  gpt-4o: [\n"


@pytest.mark.parametrize(
    ("setting", "warning"),
    [
        (
            {"SPANMETER_ANOMALY_SIGMA": "abc"},
            (
                "spanmeter: environment variable SPANMETER_ANOMALY_SIGMA: invalid value 'abc' "
                "(could not convert string to float: 'abc'); using the default 3.0"
            ),
        ),
        (
            {"SPANMETER_PRICES_FILE": "prices.yaml"},
            (
                "spanmeter: price file prices.yaml (SPANMETER_PRICES_FILE): not valid YAML "
                "(line 3, column 9: expected ',' or '}', but got ':'); using no price overrides"
            ),
        ),
        (
            {"SPANMETER_TRACES_FILE": "/no/such/dir/t.jsonl"},
            (
                "spanmeter: environment variable SPANMETER_TRACES_FILE: cannot write '/no/such/dir/t.jsonl' "
                "(no directory /no/such/dir); using the default 'spanmeter-traces.jsonl'"
            ),
        ),
        (
            {"SPANMETER_ALERT_RULES": "prices.yaml"},
            (
                "spanmeter: environment variable SPANMETER_ALERT_RULES: prices.yaml: file: is not valid YAML "
                "(line 3, column 9: expected ',' or '}', but got ':'); using no alert rules"
            ),
        ),
    ],
    ids=["bad-value", "bad-price-file", "unwritable-traces-file", "bad-alert-rules"],
)
def test_a_bad_setting_is_one_warning_line_and_telemetry_keeps_working(
    app, tmp_path, run_instrumented, setting, warning
):
    """The OpenTelemetry SDK's rule: one line naming the setting and what is used instead."""
    (tmp_path / "prices.yaml").write_text(BAD_PRICE_FILE)
    pinned = {
        "OTEL_PYTHON_DISTRO": "spanmeter",
        "OTEL_PYTHON_CONFIGURATOR": "spanmeter",
        # spanmeter's instrumentors read settings too: they must not add lines of their own.
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(instrumentor_names()[1]),
    }
    good = run_instrumented(app, tmp_path, **pinned, SPANMETER_TRACES_FILE="good.jsonl")

    bad = run_instrumented(app, tmp_path, **pinned, **setting)

    assert "app done" in bad.stdout
    good_lines = good.stderr.splitlines()  # OpenTelemetry's own notices, e.g. about other configurators
    assert [line for line in bad.stderr.splitlines() if line not in good_lines] == [warning]
    assert_enriched(list(read_spans(tmp_path / "spanmeter-traces.jsonl")))
