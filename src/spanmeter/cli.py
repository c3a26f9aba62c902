"""The ``spanmeter`` command: ``demo`` runs the bundled example, ``report`` summarizes a traces file.

Other commands register on :func:`main` (a click group) from their own modules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import click
from opentelemetry.environment_variables import OTEL_METRICS_EXPORTER, OTEL_TRACES_EXPORTER
from opentelemetry.instrumentation.environment_variables import (
    OTEL_PYTHON_CONFIGURATOR,
    OTEL_PYTHON_DISTRO,
)
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME
from rich.console import Console

from spanmeter import __version__
from spanmeter.report import read_metric_requests, read_spans, render_summary, summarize
from spanmeter.settings import SETTINGS

DEMO_TIMEOUT_S = 120
_EXAMPLE = "agent_pipeline.py"


@click.group()
@click.version_option(__version__, prog_name="spanmeter")
def main() -> None:
    """spanmeter: OpenTelemetry for LLM agents and data pipelines."""


def example_path() -> Path:
    """The demo app: packaged in the wheel, or examples/ of a source checkout (one copy either way)."""
    packaged = resources.files("spanmeter") / "examples" / _EXAMPLE
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "examples" / _EXAMPLE


def _opentelemetry_instrument() -> str:
    beside_python = Path(sys.executable).with_name("opentelemetry-instrument")
    found = str(beside_python) if beside_python.is_file() else shutil.which("opentelemetry-instrument")
    if not found:
        raise click.ClickException("opentelemetry-instrument not found; is opentelemetry-instrumentation installed?")
    return found


def _with_exporter(environ: dict[str, str], variable: str, name: str) -> str:
    """The user's exporter list for ``variable`` with ``name`` added (the demo reads its file)."""
    names = [n.strip() for n in environ.get(variable, "").split(",") if n.strip() and n.strip() != "none"]
    if not names and environ.get(OTEL_EXPORTER_OTLP_ENDPOINT):
        names = ["otlp"]
    return ",".join([name, *(n for n in names if n != name)])


def demo_environment(directory: Path, environ: dict[str, str]) -> dict[str, str]:
    """Environment of the demo's app: spanmeter's distro pinned, files in ``directory``.

    The files are always written (the summary reads them); exporters the user chose,
    or ``otlp`` when only OTEL_EXPORTER_OTLP_ENDPOINT is set, receive the same data.
    """
    env = dict(environ)
    env[OTEL_PYTHON_DISTRO] = "spanmeter"
    env[OTEL_PYTHON_CONFIGURATOR] = "spanmeter"
    env[SETTINGS["traces_file"].env] = str(directory / "spanmeter-traces.jsonl")
    env[SETTINGS["metrics_file"].env] = str(directory / "spanmeter-metrics.jsonl")
    env[OTEL_TRACES_EXPORTER] = _with_exporter(environ, OTEL_TRACES_EXPORTER, "spanmeter_file")
    env[OTEL_METRICS_EXPORTER] = _with_exporter(environ, OTEL_METRICS_EXPORTER, "spanmeter_file")
    env.setdefault(OTEL_SERVICE_NAME, "spanmeter-demo")
    return env


def print_summary(console: Console, traces_file: Path, title: str) -> None:
    try:
        spans = list(read_spans(traces_file))
    except ValueError as exc:  # names the file and line
        raise click.ClickException(str(exc)) from None
    if not spans:
        raise click.ClickException(f"no spans in {traces_file}")
    console.print(render_summary(summarize(spans), title=title))


@main.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
    show_default=True, help="Where to write spanmeter-traces.jsonl and spanmeter-metrics.jsonl.",
)  # fmt: skip
def demo(directory: Path) -> None:
    """Run the bundled multi-agent example under opentelemetry-instrument and summarize its spans.

    Fully offline. Spans and metrics go to fresh OTLP/JSON files; with
    OTEL_EXPORTER_OTLP_ENDPOINT set they also go there over OTLP.
    """
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    env = demo_environment(directory, dict(os.environ))
    traces_file = Path(env[SETTINGS["traces_file"].env])
    metrics_file = Path(env[SETTINGS["metrics_file"].env])
    for stale in (traces_file, metrics_file):
        stale.unlink(missing_ok=True)

    command = [_opentelemetry_instrument(), sys.executable, str(example_path())]
    click.echo(f"$ OTEL_TRACES_EXPORTER={env[OTEL_TRACES_EXPORTER]} opentelemetry-instrument python {command[-1]}")
    try:
        run = subprocess.run(command, env=env, cwd=directory, capture_output=True, text=True,
                             timeout=DEMO_TIMEOUT_S, check=False)  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise click.ClickException(f"the example did not finish within {DEMO_TIMEOUT_S} s") from exc
    click.echo(run.stdout, nl=False)
    if run.returncode != 0 or run.stderr.strip():
        click.echo(run.stderr, err=True, nl=False)
    if run.returncode != 0:
        raise click.ClickException(f"the example failed (exit status {run.returncode})")
    if not traces_file.is_file():
        raise click.ClickException(f"the example wrote no spans to {traces_file}")

    console = Console(width=120)
    print_summary(console, traces_file, title="spanmeter demo: spans by kind")
    metric_lines = sum(1 for _ in read_metric_requests(metrics_file)) if metrics_file.is_file() else 0
    console.print(f"spans:   {traces_file}\nmetrics: {metrics_file} ({metric_lines} export(s))")


@main.command()
@click.argument("traces_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def report(traces_file: Path) -> None:
    """Summarize an OTLP/JSON-lines traces file (spanmeter_file's or the Collector's)."""
    print_summary(Console(), traces_file, title=f"spanmeter report: {traces_file.name}")
