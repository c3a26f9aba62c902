"""``spanmeter pipeline --config FILE`` runs the service; ``spanmeter pipeline validate --config FILE`` checks it.

A bad file is one line on stderr naming the file, the key path and what was expected,
and exit status 1. SIGTERM / SIGINT: stop accepting, drain, exit 0 within ``--drain-timeout``, or
3 when a memory queue still held data at that deadline (lost, counted in
``otelcol_exporter_send_failed_spans{reason="shutdown"}``; a file queue keeps it for the next start).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path

import click

from spanmeter.settings import ConfigError

EXIT_ITEMS_LOST = 3

_CONFIG = click.option("--config", "config_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
                       help="The pipeline's YAML file (the OpenTelemetry Collector's shape).")  # fmt: skip


def _load(config_file: Path):
    from spanmeter.pipeline.config import load

    try:
        return load(config_file)
    except ConfigError as exc:
        click.echo(f"spanmeter pipeline: {exc}", err=True)
        sys.exit(1)


@click.group(invoke_without_command=True)
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The pipeline's YAML file (the OpenTelemetry Collector's shape).")  # fmt: skip
@click.option("--drain-timeout", default=10.0, show_default=True, help="Seconds to drain the queues on SIGTERM.")
@click.pass_context
def pipeline(context: click.Context, config_file: Path | None, drain_timeout: float) -> None:
    """Run the OTLP pipeline: receive, price and meter spans, export (Collector-shaped YAML)."""
    if context.invoked_subcommand is not None:
        return
    if config_file is None:
        raise click.UsageError("--config FILE is required")
    config = _load(config_file)
    level = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}
    from spanmeter.pipeline.service import PipelineService
    from spanmeter.pipeline.telemetry import EventFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EventFormatter())
    logging.basicConfig(level=level[config.log_level], handlers=[handler])

    try:
        service = PipelineService(config)
        service.start()
    except (OSError, ConfigError) as exc:
        click.echo(f"spanmeter pipeline: {config_file}: cannot start: {exc}", err=True)
        sys.exit(1)
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
    if service.stop(drain_timeout):
        sys.exit(EXIT_ITEMS_LOST)


@pipeline.command()
@_CONFIG
def validate(config_file: Path) -> None:
    """Check the YAML file without starting anything (exit status 0 when valid, 1 with one error line)."""
    config = _load(config_file)
    click.echo(
        f"{config_file}: valid ({len(config.pipelines)} pipeline(s): "
        + ", ".join(p.name for p in config.pipelines)
        + ")"
    )
    for warning in config.warnings:
        click.echo(f"{config_file}: warning: {warning}", err=True)
