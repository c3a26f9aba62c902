"""The ``spanmeter`` command: ``demo`` runs the bundled example; ``report`` (spanmeter.report.command) analyzes
traces; ``bench`` (spanmeter.bench.command) load-tests a callable.

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
    OTEL_PYTHON_DISABLED_INSTRUMENTATIONS,
    OTEL_PYTHON_DISTRO,
)
from opentelemetry.sdk.environment_variables import OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME
from rich.console import Console

from spanmeter.bench.command import EXIT_INTERRUPTED
from spanmeter.bench.command import bench as bench_command
from spanmeter.pipeline.cli import pipeline
from spanmeter.report import read_metric_requests, read_spans, render_report
from spanmeter.report.command import report as report_command
from spanmeter.settings import SETTINGS, ConfigError, Settings
from spanmeter.version import __version__

DEMO_TIMEOUT_S = 120
_EXAMPLE = "agent_pipeline.py"
# Entry-point names under which other packages (opentelemetry-instrumentation-openai-v2,
# OpenLLMetry, OpenInference) register their OpenAI/Anthropic/LangChain instrumentors. The
# demo turns them off so its LLM spans are spanmeter's alone, one per call.
PEER_LLM_INSTRUMENTATIONS = ("openai", "anthropic", "langchain")
# The demo's price of compute time when the user sets none: about an on-demand
# 4-vCPU cloud VM, so that stages (which make no LLM calls) carry a cost per GB.
DEMO_COMPUTE_USD_PER_HOUR = "0.20"


HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
"""``-h`` as well as ``--help``, on the group and every subcommand (click passes it down)."""


@click.group(context_settings=HELP_OPTIONS)
@click.version_option(__version__, prog_name="spanmeter")
def main() -> None:
    """spanmeter: OpenTelemetry for LLM agents and data pipelines."""


main.add_command(pipeline)


@main.command("help")
@click.argument("command", nargs=-1)
@click.pass_context
def help_command(ctx: click.Context, command: tuple[str, ...]) -> None:
    """Show the help of spanmeter, or of COMMAND (``help report``, ``help pipeline validate``)."""
    target_ctx = ctx.find_root()
    target = target_ctx.command
    for name in command:
        found = target.get_command(target_ctx, name) if isinstance(target, click.Group) else None
        if found is None:
            raise click.UsageError(f"no such command: {' '.join(command)}", ctx)
        target_ctx = click.Context(found, info_name=name, parent=target_ctx)
        target = found
    click.echo(target.get_help(target_ctx))


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
    Peers' LLM instrumentors are disabled on top of any the user disabled, and
    compute is priced at DEMO_COMPUTE_USD_PER_HOUR unless the user set a rate.
    """
    env = dict(environ)
    env[OTEL_PYTHON_DISTRO] = "spanmeter"
    env[OTEL_PYTHON_CONFIGURATOR] = "spanmeter"
    disabled = [n.strip() for n in environ.get(OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, "").split(",") if n.strip()]
    env[OTEL_PYTHON_DISABLED_INSTRUMENTATIONS] = ",".join(
        [*disabled, *(n for n in PEER_LLM_INSTRUMENTATIONS if n not in disabled)]
    )
    env[SETTINGS["traces_file"].env] = str(directory / "spanmeter-traces.jsonl")
    env[SETTINGS["metrics_file"].env] = str(directory / "spanmeter-metrics.jsonl")
    env[OTEL_TRACES_EXPORTER] = _with_exporter(environ, OTEL_TRACES_EXPORTER, "spanmeter_file")
    env[OTEL_METRICS_EXPORTER] = _with_exporter(environ, OTEL_METRICS_EXPORTER, "spanmeter_file")
    if not environ.get(SETTINGS["compute_usd_per_hour"].env, "").strip():
        env[SETTINGS["compute_usd_per_hour"].env] = DEMO_COMPUTE_USD_PER_HOUR
    env.setdefault(OTEL_SERVICE_NAME, "spanmeter-demo")
    return env


def _console() -> Console:
    """A console wide enough for the summary and the report's tables even when output is not a terminal."""
    return Console(width=max(Console().width, 150))


def print_summary(console: Console, traces_file: Path, title: str) -> None:
    """Spans by kind, then LLM cost by model and the anomalies, of one traces file."""
    try:
        spans = list(read_spans(traces_file))
    except ValueError as exc:  # names the file and line
        raise click.ClickException(str(exc)) from None
    if not spans:
        raise click.ClickException(f"no spans in {traces_file}")
    for part in render_report(spans, title):
        console.print(part)


@main.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
    show_default=True, help="Where to write spanmeter-traces.jsonl, spanmeter-metrics.jsonl and spanmeter-demo.log.",
)  # fmt: skip
def demo(directory: Path) -> None:
    """Run the bundled multi-agent example under opentelemetry-instrument and summarize its spans.

    Fully offline. Spans and metrics go to fresh OTLP/JSON files; with
    OTEL_EXPORTER_OTLP_ENDPOINT set they also go there over OTLP. What the app logs
    (start-up notices, spanmeter's warnings) goes to spanmeter-demo.log, shown here
    only if the app fails.
    """
    directory = directory.resolve()
    env = demo_environment(directory, dict(os.environ))
    try:
        Settings.load(environ=env)  # in the app it would be a warning in the log file; say it here instead
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    traces_file = Path(env[SETTINGS["traces_file"].env])
    metrics_file = Path(env[SETTINGS["metrics_file"].env])
    log_file = directory / "spanmeter-demo.log"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for stale in (traces_file, metrics_file):
            stale.unlink(missing_ok=True)
    except OSError as exc:
        raise click.ClickException(f"cannot write into {directory}: {exc.strerror}") from None

    command = [_opentelemetry_instrument(), sys.executable, str(example_path())]
    shown = (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS, SETTINGS["compute_usd_per_hour"].env, OTEL_TRACES_EXPORTER)
    click.echo(
        "$ " + " ".join(f"{name}={env[name]}" for name in shown) + f" opentelemetry-instrument python {command[-1]}"
    )
    try:
        run = subprocess.run(command, env=env, cwd=directory, capture_output=True, text=True,
                             timeout=DEMO_TIMEOUT_S, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        raise click.ClickException(f"the example did not finish within {DEMO_TIMEOUT_S} s") from None
    log_file.write_text(run.stderr)
    click.echo(run.stdout, nl=False)
    if run.returncode != 0:
        click.echo(run.stderr, err=True, nl=False)
        raise click.ClickException(f"the example failed (exit status {run.returncode}); its log: {log_file}")
    if not traces_file.is_file():
        raise click.ClickException(f"the example wrote no spans to {traces_file}; its log: {log_file}")

    console = _console()
    print_summary(console, traces_file, title="spanmeter demo: spans by kind")
    try:
        metric_exports = sum(1 for _ in read_metric_requests(metrics_file)) if metrics_file.is_file() else 0
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    console.print(
        f"spans:   {traces_file}\nmetrics: {metrics_file} ({metric_exports} export(s))\n"
        f"app log: {log_file} ({len(run.stderr.splitlines())} line(s))"
    )


@main.command()
@click.option("--target", default="127.0.0.1:4319", show_default=True, help="The pipeline's Insights API.")
@click.option("--interval", default=2.0, show_default=True, type=click.FloatRange(min=0.1, max=3600),
              help="Seconds between refreshes.")  # fmt: skip
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), help="Bearer token for the API.")
@click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), help="CA certificate: connect over TLS.")
def top(target: str, interval: float, token_file: str | None, ca_file: str | None) -> None:
    """Live view of a running pipeline: cost rate, groups with error rate and p95, budgets, anomalies.

    Keys: m/a/s group by model/agent/service, c/e/l sort by cost/errors/latency, / filter, q quit.
    """
    from spanmeter.pipeline import top as live_view

    token = Path(token_file).read_text().strip() if token_file else None
    try:
        live_view.run(target, interval_s=interval, token=token, ca_file=ca_file)
    except live_view.Unreachable as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)  # as bench does, and as a shell reports a command ended by Ctrl-C


@main.command("config")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A pipeline YAML file: its processors.spanmeter keys win over the environment.",
)
def config_command(config_file: Path | None) -> None:
    """Print the resolved settings, where each came from, and any problems (exit status 1 if any)."""
    explicit, source = _pipeline_settings(config_file) if config_file else ({}, "argument")
    from spanmeter.distro import resolve_settings  # the checks the app makes at start-up

    resolution = resolve_settings(explicit, source=source)
    width = max(len(setting.env) for setting in SETTINGS.values())
    click.echo("spanmeter settings (order: argument or file key, environment variable, default)")
    for name, setting in SETTINGS.items():
        value = getattr(resolution.settings, name)
        shown = "-" if value is None else str(value)
        click.echo(f"  {setting.env:<{width}}  {shown:<24}  {resolution.origins[name]}")
    if not resolution.problems:
        click.echo("no problems")
        return
    click.echo(f"{len(resolution.problems)} problem(s):")
    for problem in resolution.problems:
        click.echo(f"  {problem}")
    sys.exit(1)


def _pipeline_settings(path: Path) -> tuple[dict, str]:
    """The setting keys of a pipeline file's ``processors.spanmeter``, read as the pipeline reads
    them, and the source naming them."""
    from spanmeter.pipeline.config import processor_setting_keys

    try:
        return processor_setting_keys(path), f"{path}: processors.spanmeter"
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


main.add_command(report_command)
main.add_command(bench_command)
