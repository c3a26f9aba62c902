"""Anomaly flags on realistic agent traffic: spanmeter's detector beside the previous one and
the recipes' mean + 3 sigma, on the labelled corpus of ``anomaly_corpus.py``.

    python tests/bench/bench_anomaly_corpus.py [--traces N] [--seed S] [--through processor,pipeline]

Per shape and overall, for each detector on the same spans in the same run:

- precision and recall on isolated incidents (5x latency, 5x tokens, 5x runaway loops):
  a flag on the incident's span is a hit, a flag on a healthy span a false alarm
  (ancestors of an incident and spans of a key still warming up count neither way);
- FPR: flagged healthy spans / healthy spans (%); ``failed flagged``: failed spans flagged;
- shift: for each key of the lasting level shift, its samples from the shift until the
  first flag (``first``) and until the last (``quiet``: flags stop after it);
- alerts: how often the shipped ``SpanmeterAnomalies`` rule (its expression read from
  collector-config/prometheus/spanmeter-rules.yml) would start firing on the flags of
  healthy spans alone, counting them as its metric counts them;
- µs per observe: CPU time to judge and learn one span (best of 5 passes over the corpus,
  or its first ``--timing-spans`` spans, detectors taking turns).

``--through processor,pipeline`` also runs the shipped detector inside the real
SpanmeterProcessor (spans built with the SDK) and inside the pipeline's enrichment of the
same spans as OTLP protobuf (``Enricher.enrich_request``), and prints whether both flag
the same spans as the detector alone.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anomaly_corpus as corpus_module
from anomaly_corpus import CorpusSpan
from anomaly_previous import PreviousDetector
from bench_anomaly_quality import NaiveDetector

from spanmeter.processing.anomaly import AnomalyDetector

RULES_FILE = Path(__file__).resolve().parents[2] / "collector-config" / "prometheus" / "spanmeter-rules.yml"
TARGETS = {"precision": 0.95, "recall": 0.95, "fpr": 0.002, "first": 5, "quiet": 200, "alerts": 0, "cost_ratio": 1.5}
SIGMA = 3.0
MIN_SAMPLES = corpus_module.MIN_SAMPLES

Judge = Callable[[CorpusSpan], tuple[str, ...]]


def previous_values(span: CorpusSpan) -> dict[str, float]:
    """What the enricher judged before: raw latency (failures included), own LLM cost, tokens."""
    values = {"latency": span.duration_s}
    if span.operation == "chat" and span.cost_usd is not None:
        values["cost"] = span.cost_usd
    if span.input_tokens is not None:
        values["tokens"] = float(span.input_tokens + span.output_tokens)
    return values


def previous_judge() -> Judge:
    detector = PreviousDetector(sigma=SIGMA, min_samples=MIN_SAMPLES, max_keys=10_000)
    return lambda span: detector.observe(span.key, previous_values(span))[0]


def naive_judge() -> Judge:
    detector = NaiveDetector(sigma=SIGMA, min_samples=MIN_SAMPLES)
    return lambda span: detector.observe(span.key, previous_values(span))[0]


def spanmeter_judge() -> Judge:
    detector = AnomalyDetector(sigma=SIGMA, min_samples=MIN_SAMPLES, max_keys=10_000)
    return lambda span: observe_span(detector, span)[0]


def observe_span(detector: AnomalyDetector, span: CorpusSpan):
    """The facts the enricher hands the detector for this span."""
    return detector.observe_span(
        span.key,
        span.duration_s,
        failed=span.error is not None,
        output_tokens=span.output_tokens,
        first_chunk_s=span.time_to_first_chunk_s,
        input_tokens=span.input_tokens,
        calls=span.calls,
        calls_s=span.calls_s,
    )


DETECTORS: dict[str, Callable[[], Judge]] = {
    "spanmeter": spanmeter_judge,
    "previous": previous_judge,
    "naive mean+3σ": naive_judge,
}


# -- scoring ---------------------------------------------------------------------------------------------------------
@dataclass
class Score:
    hits: int = 0
    incidents: int = 0
    false_alarms: int = 0
    healthy: int = 0
    failed_flagged: int = 0
    first: list[int] = field(default_factory=list)
    quiet: list[int] = field(default_factory=list)
    alerts: int = 0

    @property
    def precision(self) -> float:
        return self.hits / (self.hits + self.false_alarms) if self.hits + self.false_alarms else 1.0

    @property
    def recall(self) -> float:
        return self.hits / self.incidents if self.incidents else 1.0

    @property
    def fpr(self) -> float:
        return self.false_alarms / self.healthy if self.healthy else 0.0

    def add(self, other: Score) -> None:
        for name in ("hits", "incidents", "false_alarms", "healthy", "failed_flagged", "alerts"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first += other.first
        self.quiet += other.quiet


def shipped_rule(path: Path = RULES_FILE) -> tuple[str, float, float]:
    """(counted metric, window in seconds, threshold) of the SpanmeterAnomalies alert."""
    text = path.read_text()
    block = text[text.index("alert: SpanmeterAnomalies") :]
    expr = re.search(r"expr: (.*)", block).group(1)
    metric, window, unit = re.search(r"increase\((\w+)\[(\d+)([smh])\]\)", expr).groups()
    threshold = float(re.search(r">\s*([\d.]+)\s*$", expr).group(1))
    return metric, int(window) * {"s": 1, "m": 60, "h": 3600}[unit], threshold


def alert_starts(events: Sequence[int], window_s: float, threshold: float) -> int:
    """How often ``increase(counter[window]) > threshold`` starts to hold, for counter increments at ``events`` (ns)."""
    starts = 0
    firing = False
    left = 0
    for right, at in enumerate(events):
        while events[left] <= at - window_s * 1e9:
            left += 1
        now_firing = right - left + 1 > threshold
        starts += now_firing and not firing
        firing = now_firing
    return starts


def score(spans: Sequence[CorpusSpan], flags: Sequence[tuple[str, ...]], rule: tuple[str, float, float]):
    """Score per shape (and the key of each shift), from each span's fired reasons."""
    metric, window_s, threshold = rule
    per_trace = "incident" in metric
    scores: dict[str, Score] = defaultdict(Score)
    alert_events: dict[str, list[int]] = defaultdict(list)
    shift_flags: dict[tuple, list[int]] = defaultdict(list)
    seen_traces: set[int] = set()
    for span, reasons in zip(spans, flags, strict=True):
        s = scores[span.shape]
        label = span.label
        if label == "spike":
            s.incidents += 1
            s.hits += bool(reasons)
        elif label == "healthy":
            s.healthy += 1
            s.false_alarms += bool(reasons)
            if reasons and not (per_trace and span.trace in seen_traces):
                alert_events[span.shape].extend([span.end_ns] * (1 if per_trace else len(reasons)))
        elif label == "failed":
            s.failed_flagged += bool(reasons)
        elif label == "shift":
            shift_flags.setdefault(span.key, [])
            if reasons:
                shift_flags[span.key].append(span.shift_index + 1)
        if reasons:
            seen_traces.add(span.trace)
    for key, flagged in shift_flags.items():
        shape = scores[key[0].removeprefix("corpus-")]
        shape.first.append(flagged[0] if flagged else 10**9)
        shape.quiet.append(flagged[-1] if flagged else 0)
    for shape, events in alert_events.items():
        scores[shape].alerts = alert_starts(sorted(events), window_s, threshold)
    return scores


def run(make: Callable[[], Judge], spans: Sequence[CorpusSpan]) -> list[tuple[str, ...]]:
    judge = make()
    return [judge(span) for span in spans]


def us_per_observe(spans: Sequence[CorpusSpan], repeats: int = 5) -> dict[str, float]:
    """CPU µs per span judged and learnt, per detector: best of ``repeats`` passes over
    ``spans``, the detectors taking turns so a busy machine slows them alike."""
    best = dict.fromkeys(DETECTORS, float("inf"))
    for _ in range(repeats):
        for name, make in DETECTORS.items():
            judge = make()
            start = time.thread_time()
            for span in spans:
                judge(span)
            best[name] = min(best[name], time.thread_time() - start)
    return {name: seconds / len(spans) * 1e6 for name, seconds in best.items()}


# -- printing --------------------------------------------------------------------------------------------------------
HEADER = (
    f"{'detector':<14} {'shape':<12} {'precision':>9} {'recall':>6} {'incidents':>9} {'FPR %':>6} "
    f"{'healthy':>7} {'failed flagged':>14} {'shift first':>11} {'quiet':>5} {'alerts':>6}"
)


def row(name: str, shape: str, s: Score) -> str:
    first = max(s.first) if s.first else "-"
    quiet = max(s.quiet) if s.quiet else "-"
    return (
        f"{name:<14} {shape:<12} {s.precision:>9.3f} {s.recall:>6.3f} {s.incidents:>9d} {s.fpr * 100:>6.3f} "
        f"{s.healthy:>7d} {s.failed_flagged:>14d} {first!s:>11} {quiet!s:>5} {s.alerts:>6d}"
    )


def overall(scores: dict[str, Score]) -> Score:
    total = Score()
    for s in scores.values():
        total.add(s)
    return total


def targets_met(total: Score, cost_ratio: float) -> dict[str, bool]:
    return {
        "precision": total.precision >= TARGETS["precision"],
        "recall": total.recall >= TARGETS["recall"],
        "fpr": total.fpr <= TARGETS["fpr"],
        "shift first": bool(total.first) and max(total.first) <= TARGETS["first"],
        "shift quiet": bool(total.quiet) and max(total.quiet) <= TARGETS["quiet"],
        "alerts": total.alerts <= TARGETS["alerts"],
        "cost": cost_ratio <= TARGETS["cost_ratio"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=3000, help="agent runs per shape")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--through", default="", help="also run the shipped code in: processor,pipeline")
    parser.add_argument("--timing-spans", type=int, default=0, help="spans timed for µs per observe (0: all)")
    args = parser.parse_args(argv)
    spans = corpus_module.build(args.traces, args.seed)
    rule = shipped_rule()
    print(
        f"corpus: {args.traces} agent runs x {len(corpus_module.SHAPES)} shapes = {len(spans)} spans (seed {args.seed}); "
        f"sigma {SIGMA:g}, min_samples {MIN_SAMPLES}; alert rule: increase({rule[0]}[{rule[1]:g}s]) > {rule[2]:g}"
    )
    print(HEADER)
    print("-" * len(HEADER))
    totals: dict[str, Score] = {}
    flags_by_detector = {}
    for name, make in DETECTORS.items():
        flags = flags_by_detector[name] = run(make, spans)
        scores = score(spans, flags, rule)
        for shape in corpus_module.SHAPES:
            print(row(name, shape, scores[shape]))
        totals[name] = overall(scores)
        print(row(name, "overall", totals[name]))
    cost = us_per_observe(spans[: args.timing_spans or None])
    print("µs per observe: " + ", ".join(f"{name} {us:.2f}" for name, us in cost.items()))
    ratio = cost["spanmeter"] / cost["previous"]
    if args.through:
        from anomaly_paths import flags_through  # imports the SDK and the pipeline's pieces only when asked

        for path in args.through.split(","):
            through = flags_through(path, spans)
            same = sum(bool(a) == bool(b) for a, b in zip(through, flags_by_detector["spanmeter"], strict=True))
            print(row(f"… {path}", "overall", overall(score(spans, through, rule))))
            print(f"{path}: {same} of {len(spans)} spans flagged as the detector alone flags them")
    met = targets_met(totals["spanmeter"], ratio)
    verdict = ", ".join(f"{name} {'met' if ok else 'NOT met'}" for name, ok in met.items())
    print(f"spanmeter / previous µs per observe: {ratio:.2f} (target <= {TARGETS['cost_ratio']})")
    print(
        f"targets: precision >= {TARGETS['precision']}, recall >= {TARGETS['recall']}, FPR <= "
        f"{TARGETS['fpr'] * 100:g} %, shift first <= {TARGETS['first']}, quiet <= {TARGETS['quiet']}, "
        f"alerts {TARGETS['alerts']}: {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
