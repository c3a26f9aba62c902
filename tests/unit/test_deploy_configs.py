"""Structural checks of docker-compose.yml and collector-config/.

No Docker engine or Collector binary runs here, so these check what those tools
would reject or silently mis-wire: a pipeline naming an undefined component, a
component nobody uses, a mount of a file that does not exist, a service that
depends on one that is not there, an exporter pointing at a host that is not a
service, a port published beyond loopback. Prometheus' own `promtool` checks its
file for real.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
COLLECTOR = yaml.safe_load((ROOT / "collector-config" / "otel-collector.yaml").read_text())
SERVICES = COMPOSE["services"]
SECTIONS = ("receivers", "processors", "exporters", "connectors")


def _host_port(endpoint: str) -> tuple[str, int]:
    parsed = urlparse(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    return parsed.hostname, parsed.port


def test_compose_runs_the_stack_design_names():
    assert {"jaeger", "otel-collector", "prometheus", "demo"} <= set(SERVICES)
    assert SERVICES["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")


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


def test_collector_pipelines_use_only_defined_components_and_all_of_them():
    used = set()
    for pipeline_name, pipeline in COLLECTOR["service"]["pipelines"].items():
        for role in ("receivers", "processors", "exporters"):
            for component in pipeline.get(role, []):
                defined = set(COLLECTOR.get(role, {})) | set(COLLECTOR.get("connectors", {}))
                assert component in defined, f"pipeline {pipeline_name} uses undefined {role} {component}"
                used.add(component)
    defined_all = {c for section in SECTIONS for c in COLLECTOR.get(section, {})}
    assert defined_all == used, f"defined but unused: {sorted(defined_all - used)}"
    for extension in COLLECTOR["service"].get("extensions", []):
        assert extension in COLLECTOR.get("extensions", {})


def test_collector_sends_traces_to_jaeger_service_over_otlp():
    exporter = COLLECTOR["exporters"]["otlp/jaeger"]
    host, port = _host_port(exporter["endpoint"])
    assert host == "jaeger" and port == 4317
    assert exporter["tls"]["insecure"] is True
    assert "otlp/jaeger" in COLLECTOR["service"]["pipelines"]["traces"]["exporters"]


def test_demo_sends_to_the_collectors_otlp_grpc_receiver():
    host, port = _host_port(SERVICES["demo"]["environment"]["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert host == "otel-collector"
    _, receiver_port = _host_port(COLLECTOR["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"])
    assert port == receiver_port


def test_prometheus_scrapes_the_collectors_metrics_endpoint():
    config = yaml.safe_load((ROOT / "collector-config" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    _, exporter_port = _host_port(COLLECTOR["exporters"]["prometheus"]["endpoint"])
    assert f"otel-collector:{exporter_port}" in targets


def test_promtool_accepts_prometheus_config():
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/test.sh installs Debian's prometheus package"
    result = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(ROOT / "collector-config" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
