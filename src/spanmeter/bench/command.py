"""``spanmeter bench module:function``: run the load, print the result, optionally gate on a baseline."""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from spanmeter.bench import telemetry
from spanmeter.bench.html import bench_page
from spanmeter.bench.results import DEFAULT_FAIL_ON, Check, bench_result, compare, parse_fail_on
from spanmeter.bench.runner import DEFAULT_TIMEOUT_S, Runner, Scenario, Tally, load_target
from spanmeter.output_files import output_path_option, write_atomically

EXIT_REGRESSION = 1
EXIT_INTERRUPTED = 130  # what a shell reports for a command ended by Ctrl-C
LIVE_EVERY_S = 0.25
"""How often the live figures (requests/s, p95, errors) are recomputed while the load runs."""
_TO_STDOUT = "-"


def read_inputs(path: Path) -> tuple[Any, ...]:
    """One JSON value per non-blank line; a bad line is a usage error naming file and line."""
    inputs = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if line.strip():
                try:
                    inputs.append(json.loads(line))
                except ValueError as exc:
                    raise click.BadParameter(f"{path}:{number}: not JSON ({exc})", param_hint="--inputs") from None
    if not inputs:
        raise click.BadParameter(f"{path}: no inputs in it", param_hint="--inputs")
    return tuple(inputs)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _run(runner: Runner, err: Console) -> Tally:
    """Run with Ctrl-C stopping the load cleanly once; a second Ctrl-C interrupts as usual."""
    loop = asyncio.get_running_loop()

    def on_interrupt() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        runner.stop()

    loop.add_signal_handler(signal.SIGINT, on_interrupt)
    scenario = runner.scenario
    load = f"{scenario.requests} request(s) per user" if scenario.duration_s is None else f"{scenario.duration_s:g} s"
    err.print(f"load started: {scenario.users} user(s), {load}; Ctrl-C stops it and reports what ran")
    try:
        return await runner.run()
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def live_figures(tally: Tally, elapsed_s: float) -> str:
    """What the load has done so far: requests/s, p95, errors and timeouts."""
    p95 = tally.latency.quantile(0.95)
    rate = tally.requests / elapsed_s if elapsed_s > 0 else 0.0
    return (f"{rate:.1f} req/s  p95 {_fmt(p95, '{:.3f} s')}  errors {tally.errors:,}  "
            f"timeouts {tally.timeouts:,}")  # fmt: skip


def _progress_callback(progress: Progress, scenario: Scenario) -> Callable[[Tally], None]:
    """After each request: the bar now, the live figures every LIVE_EVERY_S (a percentile is not free)."""
    by_requests = scenario.requests is not None and scenario.duration_s is None
    total = scenario.users * scenario.requests if by_requests else scenario.duration_s
    task = progress.add_task("requests" if by_requests else f"{scenario.duration_s:g} s", total=total, live="")
    started = time.monotonic()
    shown = [0.0]

    def update(tally: Tally) -> None:
        now = time.monotonic()
        done = tally.requests if by_requests else min(now - started, scenario.duration_s)
        if now - shown[0] >= LIVE_EVERY_S:
            shown[0] = now
            progress.update(task, completed=done, live=live_figures(tally, now - started))
        else:
            progress.update(task, completed=done)

    return update


def _fmt(value: float | None, template: str) -> str:
    return "-" if value is None else template.format(value)


def result_tables(result: dict[str, Any]) -> list[Table]:
    summary = Table(title=f"spanmeter bench {result['target']}" + (" (interrupted)" if result["interrupted"] else ""))
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    latency = result["latency_s"]
    share = result["time_share"]
    for label, value in (
        ("requests / errors / timeouts", f"{result['requests']} / {result['errors']} / {result['timeouts']}"),
        ("error rate / timeout rate", f"{result['error_rate']:.1%} / {result['timeout_rate']:.1%}"),
        ("requests/s", f"{result['requests_per_s']:.2f}"),
        ("latency avg / p50 / p90 / p95 / p99 s", " / ".join(_fmt(latency[k], "{:.3f}")
                                                             for k in ("avg", "p50", "p90", "p95", "p99"))),
        ("tokens/s", f"{result['tokens_per_s']:.1f}"),
        ("cost USD (per request)", f"{result['cost_usd']:.6f} ({_fmt(result['cost_per_request_usd'], '{:.6f}')})"),
        ("peak RSS MB / CPU %", f"{result['peak_rss_mb']:.0f} / {result['cpu_percent']:.0f}"),
        ("time in llm / tool / other", f"{share['llm']:.0%} / {share['tool']:.0%} / {share['other']:.0%}"),
    ):  # fmt: skip
        summary.add_row(label, value)
    advice = Table(title="recommendations")
    advice.add_column("kind")
    advice.add_column("what the figures say")
    for item in result["recommendations"]:
        advice.add_row(item["kind"], item["message"])
    return [summary, advice]


def gate_table(checks: list[Check]) -> Table:
    table = Table(title="regression gate")
    for header in ("metric", "tolerance", "baseline", "now", "limit", "result"):
        table.add_column(header, justify="left" if header in ("metric", "result") else "right")
    for check in checks:
        limit = None if check.baseline is None else check.tolerance.limit(check.baseline)
        table.add_row(check.tolerance.metric, str(check.tolerance).split(":", 1)[1], _fmt(check.baseline, "{:.4g}"),
                      _fmt(check.current, "{:.4g}"), _fmt(limit, "{:.4g}"), "FAIL" if check.failed else "ok")  # fmt: skip
    return table


def _json_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | Path | None:
    """``--json`` alone: the flag (stdout). ``--json FILE``, its old form: still written, with a warning."""
    if value is None or value == _TO_STDOUT:
        return value
    click.echo("spanmeter bench: --json FILE is deprecated: use --output FILE (--json alone prints to stdout)",
               err=True)  # fmt: skip
    return output_path_option(ctx, param, Path(value))


@click.command()
@click.argument("target")
@click.option("--users", default=1, show_default=True, type=click.IntRange(min=1), help="Concurrent users.")
@click.option("--requests", type=click.IntRange(min=1), help="Requests per user (default 10 without --duration).")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Run for this many seconds.")
@click.option("--warmup", default=0, show_default=True, type=click.IntRange(min=0), help="Uncounted calls first.")
@click.option("--ramp-up", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds over which users start.")  # fmt: skip
@click.option("--timeout", default=DEFAULT_TIMEOUT_S, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds per request before it counts as a timeout.")  # fmt: skip
@click.option("--inputs", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON lines: one argument per request, cycled.")  # fmt: skip
@click.option("--json", "json_out", is_flag=False, flag_value=_TO_STDOUT, metavar="", callback=_json_option,
              help="Print the result as one JSON object on stdout (as `report --json`); tables go to stderr.")  # fmt: skip
@click.option("--output", "output_file", type=click.Path(dir_okay=False, path_type=Path), callback=output_path_option,
              help="Write the JSON result to this file (what --baseline reads).")  # fmt: skip
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), callback=output_path_option,
              help="Write a self-contained HTML page: latency and requests over time, figures, recommendations.")  # fmt: skip
@click.option("--baseline", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A previous --output (or --json) result to compare with.")  # fmt: skip
@click.option("--fail-on", default=DEFAULT_FAIL_ON, show_default=True,
              help="With --baseline: metric:+N% / metric:+N items; exit 1 when one regresses beyond it.")  # fmt: skip
def bench(target: str, users: int, requests: int | None, duration: float | None, warmup: int, ramp_up: float,
          timeout: float, inputs: Path | None, json_out: str | Path | None, output_file: Path | None,
          html_file: Path | None, baseline: Path | None, fail_on: str) -> None:  # fmt: skip
    """Load-test TARGET (module:function, sync or async) under spanmeter's instrumentation.

    Each request calls TARGET with no argument, or with the next --inputs value. Its spans
    (LLM calls through spanmeter's instrumentors, spanmeter.agent/tool/stage) are read back
    for tokens, cost and where the time went. Ctrl-C stops the load and reports what ran (exit 130).
    """
    if isinstance(json_out, Path):  # the deprecated --json FILE
        output_file = output_file or json_out
    try:
        tolerances = parse_fail_on(fail_on)
        function = load_target(target)
    except (ValueError, TypeError, ImportError, AttributeError) as exc:
        raise click.UsageError(str(exc)) from None
    try:
        previous = json.loads(baseline.read_text()) if baseline else None
    except ValueError as exc:
        raise click.BadParameter(f"{baseline}: not a JSON result ({exc})", param_hint="--baseline") from None
    scenario = Scenario(users=users, requests=requests if requests or duration else 10, duration_s=duration,
                        warmup=warmup, ramp_up_s=ramp_up, timeout_s=timeout,
                        inputs=read_inputs(inputs) if inputs else ())  # fmt: skip
    stats = telemetry.SpanStats()
    processor = telemetry.install(stats)
    err = Console(stderr=True)
    dropped_in_warmup = 0

    def after_warmup() -> None:
        nonlocal dropped_in_warmup
        if processor is not None:
            processor.force_flush()
            dropped_in_warmup = processor.dropped
        stats.reset()

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.fields[live]}"), console=err, transient=True,
                  disable=not err.is_terminal) as progress:  # fmt: skip
        runner = Runner(function, scenario, _progress_callback(progress, scenario), after_warmup)
        tally = asyncio.run(_run(runner, err))
    spans_dropped = 0
    if processor is not None:
        processor.force_flush()
        spans_dropped = processor.dropped - dropped_in_warmup
    result = bench_result(target, scenario, tally, stats, _peak_rss_mb(), spans_dropped)
    if spans_dropped:
        err.print(f"spanmeter's span queue dropped {spans_dropped} span(s): tokens, cost and time share "
                  "are short by their share; raise OTEL_BSP_MAX_QUEUE_SIZE")  # fmt: skip
    as_json = json_out == _TO_STDOUT
    tables = err if as_json else Console(width=max(Console().width, 110))  # with --json, stdout is the JSON alone
    _report(result, as_json, output_file, html_file, tables, err)
    if tally.interrupted:
        err.print(f"interrupted: {tally.requests} request(s) ran")
        raise SystemExit(EXIT_INTERRUPTED)
    if previous is not None:
        _gate(result, previous, tolerances, tables, err)


def _report(result: dict[str, Any], as_json: bool, output_file: Path | None, html_file: Path | None,
            tables: Console, err: Console) -> None:  # fmt: skip
    """The tables, the JSON on stdout with --json, then the files asked for."""
    for table in result_tables(result):
        tables.print(table)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    if output_file is not None:
        write_atomically(output_file, json.dumps(result, indent=2) + "\n")
    if html_file is not None:
        write_atomically(html_file, bench_page(result))
        err.print(f"wrote {html_file}")


def _gate(result: dict[str, Any], previous: dict[str, Any], tolerances: list, tables: Console, err: Console) -> None:
    checks = compare(result, previous, tolerances)
    tables.print(gate_table(checks))
    failed = [check for check in checks if check.failed]
    if failed:
        err.print(f"regression: {', '.join(check.tolerance.metric for check in failed)} beyond tolerance")
        raise SystemExit(EXIT_REGRESSION)
