"""What spanmeter's instrumentors add to a process's start-up under ``opentelemetry-instrument``.

    python tests/bench/bench_startup.py [--runs N] [--json]

An empty script runs, whole process, under ``opentelemetry-instrument`` with
spanmeter's distro and configurator (so its processor and exporters are set up in
both rows) in alternating order:

with instrumentors     spanmeter's openai/anthropic instrumentors enabled
baseline               the same, with them disabled (OTEL_PYTHON_DISABLED_INSTRUMENTATIONS)

Other packages' instrumentors are disabled in both. Per run: wall time from spawn to
exit and the child's peak RSS (``os.wait4``'s rusage); printed as medians and the
ratio with-instrumentors / baseline. Target: <= 1.3x for both. Patching a library
only when the app imports it is what keeps an app that never imports openai from
paying for it. Figures are printed, never asserted; ``test_bench_startup_smoke.py``
runs it tiny.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 1.3


def _environments(workdir: Path) -> dict[str, dict[str, str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, home of the support package
    from support.entry_points import instrumentor_names

    ours, others = instrumentor_names()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SPANMETER_"))}
    base.update(
        OTEL_PYTHON_DISTRO="spanmeter",
        OTEL_PYTHON_CONFIGURATOR="spanmeter",
        OTEL_LOGS_EXPORTER="none",
        SPANMETER_TRACES_FILE=str(workdir / "traces.jsonl"),
        SPANMETER_METRICS_FILE=str(workdir / "metrics.jsonl"),
    )
    return {
        "with instrumentors": {**base, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(others)},
        "baseline": {**base, "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(ours + others)},
    }


def run_once(script: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one ``opentelemetry-instrument python script``."""
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(instrument), sys.executable, str(script)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"exit {process.returncode}: {stderr}")
    return wall, usage.ru_maxrss / 1024  # Linux reports KB


def measure(runs: int = 7) -> dict[str, dict[str, float]]:
    """Median wall time and peak RSS per setup, runs alternating between setups."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        script = workdir / "empty.py"
        script.write_text("pass\n")
        environments = _environments(workdir)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in environments}
        for round_ in range(runs):
            order = list(environments) if round_ % 2 == 0 else list(reversed(environments))
            for name in order:
                samples[name].append(run_once(script, environments[name]))
    figures = {
        name: {
            "wall_s": statistics.median(wall for wall, _ in rows),
            "peak_rss_mb": statistics.median(rss for _, rss in rows),
        }
        for name, rows in samples.items()
    }
    with_, base = figures["with instrumentors"], figures["baseline"]
    figures["ratio"] = {key: with_[key] / base[key] for key in ("wall_s", "peak_rss_mb")}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    figures = measure(args.runs)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"empty script under opentelemetry-instrument, median of {args.runs} runs each")
    for name in ("with instrumentors", "baseline"):
        row = figures[name]
        print(f"  {name:<20} wall {row['wall_s']:.3f} s   peak RSS {row['peak_rss_mb']:.1f} MB")
    ratio = figures["ratio"]
    for key, label in (("wall_s", "wall time"), ("peak_rss_mb", "peak RSS")):
        verdict = "meets" if ratio[key] <= TARGET else "MISSES"
        print(f"  ratio {label:<10} {ratio[key]:.2f}x   {verdict} {TARGET}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
