"""The pipeline's YAML: Collector keys, ${env:...} expansion, and ONE error line naming file, line and key path."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from spanmeter.pipeline.config import load
from spanmeter.pipeline.yaml_reading import duration, expand_env
from spanmeter.settings import ConfigError

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "collector-config" / "spanmeter-pipeline.yaml"
GOOD = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: ${env:GRPC_ENDPOINT:-127.0.0.1:4317}
processors:
  spanmeter:
    anomaly_sigma: 4
exporters:
  otlp_grpc/jaeger:
    endpoint: ${env:JAEGER_ENDPOINT}
    headers:
      X-Tenant: acme
    retry_on_failure:
      initial_interval: 500ms
      max_interval: 1m
      multiplier: 2
    sending_queue:
      queue_size: 50
      num_consumers: 2
      storage: file_storage
  otlphttp/backup:
    endpoint: https://backup.example:4318
    compression: none
extensions:
  file_storage:
    directory: /tmp/q
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlp_grpc/jaeger, otlphttp/backup]
"""


def _load(tmp_path, text: str, **environ: str):
    path = tmp_path / "pipeline.yaml"
    path.write_text(text)
    return load(path, environ=environ)


def _error(tmp_path, text: str, **environ: str) -> str:
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, text, **environ)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "pipeline.yaml"))
    return message


def test_collector_keys_env_expansion_aliases_and_defaults(tmp_path):
    config = _load(tmp_path, GOOD, JAEGER_ENDPOINT="jaeger:4317")
    grpc = config.receivers["otlp"].grpc
    assert (grpc.host, grpc.port, grpc.max_request_bytes) == ("127.0.0.1", 4317, 4 << 20)
    assert config.receivers["otlp"].http is None
    jaeger, backup = config.exporters["otlp_grpc/jaeger"], config.exporters["otlphttp/backup"]
    assert (jaeger.kind, jaeger.endpoint, jaeger.headers, jaeger.compression) == (
        "otlp_grpc", "jaeger:4317", (("x-tenant", "acme"),), "gzip",
    )  # fmt: skip
    assert (jaeger.retry.initial_interval, jaeger.retry.max_interval, jaeger.retry.multiplier) == (0.5, 60.0, 2.0)
    assert jaeger.retry.max_elapsed_time == 300.0 and jaeger.retry.randomization_factor == 0.5
    assert (jaeger.queue.queue_size, jaeger.queue.num_consumers, jaeger.queue.storage) == (50, 2, "file_storage")
    assert (backup.kind, backup.compression) == ("otlp_http", "none")
    assert config.storage == {"file_storage": ("/tmp/q", True)}
    assert config.processors["spanmeter"].anomaly_sigma == 4.0
    assert config.processors["spanmeter"].span_metrics is True  # on by default in the pipeline


def test_env_expansion_as_the_collector_does():
    environ = {"A": "x", "EMPTY": ""}
    assert expand_env("${env:A}-${env:B:-dflt}-${env:EMPTY:-e}-${env:B}-$$", environ) == "x-dflt-e--$"


def test_durations():
    assert [duration(v) for v in ("5s", "500ms", "1m", "1.5h", "250us", 0)] == [5.0, 0.5, 60.0, 5400.0, 0.00025, 0.0]
    for bad in ("5", "soon", 5, "-1s"):
        with pytest.raises(ValueError):
            duration(bad)


def test_a_bad_duration_names_file_line_key_path_and_expectation(tmp_path):
    message = _error(tmp_path, GOOD.replace("max_interval: 1m", "max_interval: 30"), JAEGER_ENDPOINT="j:4317")
    assert message == (
        f"{tmp_path / 'pipeline.yaml'}:16: exporters.otlp_grpc/jaeger.retry_on_failure.max_interval: "
        "expected a duration like 30s, got 30"
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("queue_size: 50", "queue_sise: 50"),
            ":19: exporters.otlp_grpc/jaeger.sending_queue.queue_sise: expected a known key (enabled, num_consumers",
        ),
        (
            ("[otlp_grpc/jaeger, otlphttp/backup]", "[otlp_grpc/jaeger, zipkin]"),
            "service.pipelines.traces.exporters: expected exporters defined at the top level (zipkin is not)",
        ),
        (
            ("storage: file_storage", "storage: file_storage/other"),
            "exporters.otlp_grpc/jaeger.sending_queue.storage: expected the name of a file_storage extension",
        ),
        (
            ("endpoint: ${env:GRPC_ENDPOINT:-127.0.0.1:4317}", "endpoint: localhost"),
            ":5: receivers.otlp.protocols.grpc.endpoint: expected host:port, got 'localhost'",
        ),
        (
            ("multiplier: 2", "multiplier: 0.5"),
            ":17: exporters.otlp_grpc/jaeger.retry_on_failure.multiplier: expected a number >= 1",
        ),
        (("compression: none", "compression: zstd"), "exporters.otlphttp/backup.compression: expected gzip or none"),
        (("  otlphttp/backup:", "  zipkin/backup:"), "exporters.zipkin/backup: expected an exporter type of"),
        (("anomaly_sigma: 4", "anomaly_sigma: -1"), "processors.spanmeter: key 'anomaly_sigma': invalid value -1"),
        (
            ("anomaly_sigma: 4", "anomaly_sigmaa: 1"),
            "processors.spanmeter: unknown spanmeter setting(s) anomaly_sigmaa",
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_key(tmp_path, change, expected):
    text = GOOD.replace(*change)
    assert text != GOOD
    assert expected in _error(tmp_path, text, JAEGER_ENDPOINT="j:4317")


def test_bearer_tokens_from_a_file_or_the_environment(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("from-file\n")
    auth = "\n        auth:\n          authenticator: bearertokenauth/file"
    text = GOOD.replace("127.0.0.1:4317}", "127.0.0.1:4317}" + auth).replace(
        "extensions:\n",
        f"extensions:\n  bearertokenauth/file:\n    filename: {token_file}\n"
        "  bearertokenauth/env:\n    token: ${env:PIPELINE_TOKEN}\n",
    )
    config = _load(tmp_path, text, JAEGER_ENDPOINT="j:4317", PIPELINE_TOKEN="from-env")
    assert config.tokens == {"bearertokenauth/file": "from-file", "bearertokenauth/env": "from-env"}
    assert config.receivers["otlp"].grpc.authenticator == "bearertokenauth/file"
    missing = _error(tmp_path, text, JAEGER_ENDPOINT="j:4317")
    assert "extensions.bearertokenauth/env.token: expected a token, got ''" in missing


def test_an_unset_variable_is_empty_and_named_as_such(tmp_path):
    assert "exporters.otlp_grpc/jaeger.endpoint: expected an endpoint" in _error(tmp_path, GOOD)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml")
    assert ":3: not valid YAML" in _error(tmp_path, "receivers:\n  otlp: [\n  x: }\n")


def test_the_checked_in_file_is_valid():
    config = load(CHECKED_IN, environ={})
    assert config.receivers["otlp"].grpc.host == "127.0.0.1" and config.receivers["otlp"].grpc.port == 4317
    assert config.receivers["otlp"].http.port == 4318
    assert {p.signal for p in config.pipelines} == {"traces", "metrics"}
    assert config.exporters["prometheus"].kind == "prometheus"
    assert config.telemetry == ("127.0.0.1", 8888)


def test_validate_command_exit_status_and_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("max_interval: 1m", "max_interval: often").replace("${env:JAEGER_ENDPOINT}", "j:4317"))
    command = [sys.executable, "-c", "from spanmeter.cli import main; main()", "pipeline", "validate", "--config"]
    good = subprocess.run([*command, str(CHECKED_IN)], capture_output=True, text=True, timeout=60, check=False)
    failed = subprocess.run([*command, str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert good.returncode == 0 and "valid" in good.stdout
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        (
            f"spanmeter pipeline: {bad}:16: exporters.otlp_grpc/jaeger.retry_on_failure.max_interval: "
            "expected a duration like 30s, got 'often'"
        )
    ]


def test_a_busy_port_is_one_error_line_and_exit_1(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = tmp_path / "busy.yaml"
        config.write_text(
            GOOD.replace("${env:GRPC_ENDPOINT:-127.0.0.1:4317}", f"127.0.0.1:{port}")
            .replace("${env:JAEGER_ENDPOINT}", "127.0.0.1:1")
            .replace("directory: /tmp/q", f"directory: {tmp_path / 'q'}")
        )
        command = [sys.executable, "-c", "from spanmeter.cli import main; main()", "pipeline", "--config", str(config)]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 1
    (line,) = run.stderr.strip().splitlines()
    assert line.startswith(f"spanmeter pipeline: {config}: cannot start: receiver otlp:")
    assert f"cannot listen on 127.0.0.1:{port} (gRPC)" in line and "Address already in use" in line


FAN_OUT = GOOD.replace(
    """service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [otlp_grpc/jaeger, otlphttp/backup]
""",
    """connectors:
  forward: {}
service:
  pipelines:
    traces/in:
      receivers: [otlp]
      processors: [spanmeter]
      exporters: [forward]
    traces/jaeger:
      receivers: [forward]
      exporters: [otlp_grpc/jaeger]
    traces/archive:
      receivers: [forward]
      exporters: [otlphttp/backup]
""",
)


def test_the_forward_connector_enriches_once_and_fans_out_without_a_warning(tmp_path):
    config = _load(tmp_path, FAN_OUT, JAEGER_ENDPOINT="j:4317")
    assert config.connectors == ("forward",) and config.warnings == ()
    assert [p.name for p in config.pipelines] == ["traces/in", "traces/jaeger", "traces/archive"]


def test_one_processor_in_two_pipelines_of_the_same_spans_is_a_warning(tmp_path):
    text = GOOD.replace(
        "      exporters: [otlp_grpc/jaeger, otlphttp/backup]\n",
        "      exporters: [otlp_grpc/jaeger]\n    traces/archive:\n      receivers: [otlp]\n"
        "      processors: [spanmeter]\n      exporters: [otlphttp/backup]\n",
    )
    (warning,) = _load(tmp_path, text, JAEGER_ENDPOINT="j:4317").warnings
    assert "receiver otlp" in warning and "traces/spanmeter, traces/archive/spanmeter" in warning
    assert "forward connector" in warning
    run = subprocess.run([sys.executable, "-c", "from spanmeter.cli import main; main()", "pipeline", "validate",
                          "--config", str(tmp_path / "pipeline.yaml")], capture_output=True, text=True, timeout=60,
                         env={"JAEGER_ENDPOINT": "j:4317", "PATH": ""}, check=False)  # fmt: skip
    assert run.returncode == 0 and "warning: spans from receiver otlp" in run.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("  forward: {}", "  spanmetrics: {}"), "connectors.spanmetrics: expected a connector of type forward"),
        (("    traces/in:\n      receivers: [otlp]\n      processors: [spanmeter]\n      exporters: [forward]",
          "    traces/in:\n      receivers: [otlp]\n      processors: [spanmeter]\n      exporters: [otlp_grpc/jaeger]"),
         "connectors.forward: expected a connector used as an exporter and as a receiver"),
        (("      exporters: [otlphttp/backup]", "      exporters: [otlphttp/backup, forward]"),
         "expected pipelines whose connectors form no cycle"),
    ],
)  # fmt: skip
def test_connector_mistakes_are_one_line(tmp_path, change, expected):
    text = FAN_OUT.replace(*change)
    assert text != FAN_OUT
    assert expected in _error(tmp_path, text, JAEGER_ENDPOINT="j:4317")


EVERY_KIND = """\
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:0
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
  otlp_http/a:
    endpoint: http://127.0.0.1:4318
  otlphttp/b:
    endpoint: http://127.0.0.1:4318
  file/spans:
    path: /tmp/spans.jsonl
  prometheus:
    endpoint: 127.0.0.1:0
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [otlp, otlp_http/a, otlphttp/b, file/spans]
    metrics:
      receivers: [otlp]
      exporters: [prometheus]
"""


def test_every_exporter_kind_and_alias_reads_into_its_own_config(tmp_path):
    from spanmeter.pipeline.exporters import KINDS, build, file, otlp_client, otlp_grpc, otlp_http, prometheus

    exporters = _load(tmp_path, EVERY_KIND).exporters
    assert {name: config.kind for name, config in exporters.items()} == {
        "otlp": "otlp_grpc", "otlp_http/a": "otlp_http", "otlphttp/b": "otlp_http", "file/spans": "file",
        "prometheus": "prometheus",
    }  # fmt: skip
    assert isinstance(exporters["otlp"], otlp_client.OTLPConfig) and exporters["otlp"].compression == "gzip"
    assert isinstance(exporters["file/spans"], file.FileConfig)
    assert isinstance(exporters["prometheus"], prometheus.PrometheusConfig)
    assert [config.destination for config in exporters.values()] == [
        "127.0.0.1:4317", "http://127.0.0.1:4318", "http://127.0.0.1:4318", "/tmp/spans.jsonl", "127.0.0.1:0",
    ]  # fmt: skip
    assert [kind.type for kind in KINDS] == ["otlp_grpc", "otlp_http", "file", "prometheus"]
    sender = build(exporters["otlp"])
    assert isinstance(sender, otlp_grpc.OTLPGrpcExporter)
    sender.close()
    assert isinstance(build(exporters["otlphttp/b"]), otlp_http.OTLPHttpExporter)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("  file/spans:\n    path: /tmp/spans.jsonl", "  file/spans:\n    pat: x"),
         ":14: exporters.file/spans.path: expected a file path, got None"),
        (("  prometheus:\n    endpoint: 127.0.0.1:0", "  prometheus:\n    endpoint: nowhere"),
         ":16: exporters.prometheus.endpoint: expected host:port, got 'nowhere'"),
        (("  otlp:\n    endpoint: 127.0.0.1:4317", "  jaeger:\n    endpoint: 127.0.0.1:4317"),
         (":8: exporters.jaeger: expected an exporter type of otlp_grpc, otlp, otlp_http, otlphttp, file, "
          "prometheus, got 'jaeger'")),
        (("exporters: [otlp, otlp_http/a", "exporters: [prometheus, otlp_http/a"),
         ": service.pipelines.traces.exporters: expected prometheus only in a metrics pipeline, got 'prometheus'"),
    ],
)  # fmt: skip
def test_each_exporter_kind_validates_its_own_keys(tmp_path, change, message):
    with pytest.raises(ConfigError) as raised:
        _load(tmp_path, EVERY_KIND.replace(*change))
    assert message in str(raised.value)
