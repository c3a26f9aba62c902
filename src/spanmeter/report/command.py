"""``spanmeter report``: read spans from files or Jaeger in one streaming pass, then print or write the report."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

from spanmeter.output_files import output_path_option, write_atomically
from spanmeter.report.analysis import Analysis
from spanmeter.report.html import html_report
from spanmeter.report.jaeger import DEFAULT_SEARCH_DEPTH, JaegerError, read_jaeger
from spanmeter.report.reader import SpanRecord, expand_paths, read_span_batches
from spanmeter.report.recommend import recommend
from spanmeter.report.render import TERMINAL_TIME_ROWS, report_json, terminal_report

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
JAEGER_DEFAULT_SINCE = "1h"


def parse_when(text: str, now_ns: int) -> int:
    """Unix ns of ``text``: a look-back (``90s``, ``30m``, ``1h``, ``2d``, ``1w``) or an ISO 8601 time (UTC if no zone)."""
    match = _DURATION.match(text.strip())
    if match:
        return now_ns - int(float(match.group(1)) * _SECONDS[match.group(2)] * 1e9)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a duration like 30m/1h/2d nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1e9)


def check_trace_url(template: str | None) -> str | None:
    """``--trace-url``: an http(s) URL with exactly the ``{trace_id}`` placeholder."""
    if template is None:
        return None
    if "{trace_id}" not in template:
        raise click.BadParameter(f"{template!r} has no {{trace_id}} placeholder, e.g. "
                                 "'http://localhost:16686/trace/{trace_id}'", param_hint="--trace-url")  # fmt: skip
    try:
        template.format(trace_id="0")
    except (IndexError, KeyError, ValueError):
        raise click.BadParameter(
            f"{template!r}: only {{trace_id}} may appear in braces", param_hint="--trace-url"
        ) from None
    if not re.match(r"^https?://", template):
        raise click.BadParameter(f"{template!r} is not an http(s) URL", param_hint="--trace-url")
    return template


def span_filter(service: str | None, since_ns: int | None, until_ns: int | None) -> Callable[[SpanRecord], bool]:
    def keep(span: SpanRecord) -> bool:
        if service is not None and span.resource.get("service.name") != service:
            return False
        if since_ns is not None and span.start_unix_nano < since_ns:
            return False
        return until_ns is None or span.start_unix_nano <= until_ns

    return keep


def _progress(console: Console) -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[spans]:,} spans"), console=console, transient=True,
                    disable=not console.is_terminal)  # fmt: skip


def _file_batches(paths: list[str], on_problem: Callable[[str], None],
                   progress: Progress) -> Iterator[list[SpanRecord]]:  # fmt: skip
    task = progress.add_task("reading", total=len(paths), spans=0)
    for path in paths:
        progress.update(task, description=f"reading {Path(path).name}")
        yield from read_span_batches(path, on_problem=on_problem)
        progress.advance(task)


def _jaeger_batches(url: str, service: str, since_ns: int, until_ns: int, depth: int,
                     progress: Progress) -> Iterator[list[SpanRecord]]:  # fmt: skip
    progress.add_task(f"querying {url}", total=None, spans=0)
    try:
        yield from read_jaeger(url, service, since_ns, until_ns, search_depth=depth)
    except JaegerError as exc:
        raise click.ClickException(str(exc)) from None


def analyze(batches: Iterable[list[SpanRecord]], keep: Callable[[SpanRecord], bool], analysis: Analysis,
            progress: Progress) -> None:  # fmt: skip
    """Feed every kept span of ``batches`` to ``analysis``, then finish it."""
    for batch in batches:
        for span in batch:
            if keep(span):
                analysis.add(span)
        for task in progress.task_ids:
            progress.update(task, spans=analysis.totals.spans)
    analysis.finish()


@click.command()
@click.argument("files", nargs=-1)
@click.option("--jaeger", "jaeger_url", metavar="URL", help="Read from Jaeger v2's query API (/api/v3/traces).")
@click.option("--service", help="Only spans of this service.name (--jaeger: required; the traces it took part in).")
@click.option("--since", help="Only spans started since: 30m, 1h, 2d... or an ISO time (Jaeger: default 1h).")
@click.option("--until", help="Only spans started until: a look-back or an ISO time.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object instead of tables.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), callback=output_path_option,
              help="Also write a self-contained HTML page with charts.")  # fmt: skip
@click.option("--trace-url", metavar="TEMPLATE", callback=lambda _ctx, _param, value: check_trace_url(value),
              help="Link trace ids to a trace viewer: a URL with {trace_id}, e.g. "
                   "'http://localhost:16686/trace/{trace_id}' (Jaeger).")  # fmt: skip
@click.option(
    "--search-depth", default=DEFAULT_SEARCH_DEPTH, show_default=True, help="Jaeger: at most this many traces."
)
def report(files: tuple[str, ...], jaeger_url: str | None, service: str | None, since: str | None, until: str | None,
           as_json: bool, html_file: Path | None, trace_url: str | None, search_depth: int) -> None:  # fmt: skip
    """Where the money and the time go: breakdowns by model, agent, tool, user, team, data source and service.

    FILES are OTLP/JSON-lines traces files (spanmeter_file's or the Collector file
    exporter's), globs allowed, gzip read transparently. Lines that are not OTLP/JSON
    are reported with file and line and skipped. With --jaeger, the traces of --service
    started in --since/--until (default: the last hour) are read whole.
    """
    err = Console(stderr=True)
    now_ns = time.time_ns()
    since_ns = parse_when(since, now_ns) if since else None
    until_ns = parse_when(until, now_ns) if until else None
    analysis = Analysis()
    with _progress(err) as progress:
        if jaeger_url:
            if not service:
                raise click.UsageError("--jaeger needs --service")
            since_ns = since_ns if since_ns is not None else parse_when(JAEGER_DEFAULT_SINCE, now_ns)
            batches = _jaeger_batches(jaeger_url, service, since_ns, until_ns or now_ns, search_depth, progress)
        elif files:
            try:
                paths = expand_paths(files)
            except FileNotFoundError as exc:
                raise click.ClickException(str(exc)) from None
            batches = _file_batches(paths, _warn_and_count(analysis, err), progress)
        else:
            raise click.UsageError("give traces files, or --jaeger URL --service NAME")
        # Jaeger selected the traces already (whole traces, with the other services' spans in them).
        keep = (lambda span: True) if jaeger_url else span_filter(service, since_ns, until_ns)
        analyze(batches, keep, analysis, progress)
    if not analysis.totals.spans:  # the same exit status with --json: a script sees the failure too
        raise click.ClickException("no spans to report on" + (" (after filters)" if service or since or until else ""))
    data = report_json(analysis, recommend(analysis), trace_url)
    if html_file is not None:
        write_atomically(html_file, html_report(analysis, data, title="spanmeter report"))
        err.print(f"wrote {html_file}")
    if as_json:
        click.echo(json.dumps(data, indent=2))
    else:
        Console(width=max(Console().width, 140)).print(
            terminal_report(data, analysis.timeline.to_json(TERMINAL_TIME_ROWS))
        )


def _warn_and_count(analysis: Analysis, err: Console) -> Callable[[str], None]:
    """Skipped lines are shown on stderr as they are met, and counted in the report."""

    def problem(message: str) -> None:
        err.print(f"warning: {message}", markup=False, highlight=False, soft_wrap=True)
        analysis.problem(message)

    return problem
