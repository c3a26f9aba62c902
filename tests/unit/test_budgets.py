"""Budgets: UTC day / week (from Monday) / month windows driven by an injected clock;
each threshold reported once per window as a span event, an OpenTelemetry log record
(WARNING, ERROR at 100 %) linked to the span, and the utilization gauge."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider

from spanmeter.processing.budgets import BudgetTracker, Crossing, log_crossing, window_bounds
from support.processing import Pipeline, llm_attributes

PRICES = "test:\n  m: {input: 1000}\n"  # $1 per 1000 input tokens
FIVE_DOLLARS = llm_attributes("m", 5000, 0, "test")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("window", "now", "start", "end"),
    [
        ("day", "2026-02-28T23:59:59", "2026-02-28T00:00:00", "2026-03-01T00:00:00"),
        ("week", "2026-03-01T12:00:00", "2026-02-23T00:00:00", "2026-03-02T00:00:00"),  # Sunday
        ("week", "2026-03-02T00:00:00", "2026-03-02T00:00:00", "2026-03-09T00:00:00"),  # Monday
        ("month", "2028-02-29T08:00:00", "2028-02-01T00:00:00", "2028-03-01T00:00:00"),
        ("month", "2026-12-31T23:00:00", "2026-12-01T00:00:00", "2027-01-01T00:00:00"),
    ],
)
def test_windows_are_utc_weeks_start_on_monday(window, now, start, end):
    assert window_bounds(window, at(now)) == (at(start), at(end))


def test_crossings_once_per_window_and_threshold_across_day_week_and_month(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES)
    now = [at("2026-02-28T23:00:00")]  # a Saturday, last day of February
    settings = {"prices_file": str(path), "budget_daily_usd": 10, "budget_weekly_usd": 40, "budget_monthly_usd": 20}
    steps = [
        ("2026-02-28T23:00:00", {("day", 0.5)}),
        ("2026-02-28T23:10:00", {("day", 0.8), ("day", 0.9), ("day", 1.0), ("month", 0.5)}),
        ("2026-02-28T23:20:00", set()),  # over budget already: nothing new
        ("2026-03-01T00:30:00", {("day", 0.5), ("week", 0.5)}),  # new day and month, same week
        ("2026-03-02T09:00:00", {("day", 0.5), ("month", 0.5)}),  # Monday: new week
    ]
    with Pipeline(settings, clock=lambda: now[0]) as p:
        for i, (time, _) in enumerate(steps):
            now[0] = at(time)
            p.span(f"chat {i}", FIVE_DOLLARS)
            p.spans()  # each span priced at its own clock time
        spans = p.spans()
        for i, (_, expected) in enumerate(steps):
            events = [e for e in spans[f"chat {i}"].events if e.name == "spanmeter.budget.threshold"]
            assert {(e.attributes["window"], e.attributes["threshold"]) for e in events} == expected, i
        crossing = next(e for e in spans["chat 1"].events if e.attributes["threshold"] == 1.0)
        assert dict(crossing.attributes) == {"window": "day", "threshold": 1.0, "spend_usd": 10.0, "budget_usd": 10.0}

        logs = [data.log_record for data in p.log_exporter.get_finished_logs()]
        assert len(logs) == sum(len(expected) for _, expected in steps)
        levels = {
            (r.attributes["spanmeter.budget.window"], r.attributes["spanmeter.budget.threshold"]): r.severity_number
            for r in logs
        }
        assert levels[("day", 1.0)] is SeverityNumber.ERROR
        assert {level for key, level in levels.items() if key != ("day", 1.0)} == {SeverityNumber.WARN}
        error = next(r for r in logs if r.severity_number is SeverityNumber.ERROR)
        assert error.trace_id == spans["chat 1"].context.trace_id
        assert error.span_id == spans["chat 1"].context.span_id
        assert "100% of the $10.00 budget" in error.body

        utilization = {point.attributes["window"]: point.value for point in p.points("spanmeter.budget.utilization")}
        assert utilization == pytest.approx({"day": 0.5, "week": 5 / 40, "month": 10 / 20})
        now[0] = at("2026-03-03T00:00:01")  # the gauge reads the new day as empty
        utilization = {point.attributes["window"]: point.value for point in p.points("spanmeter.budget.utilization")}
        assert utilization == pytest.approx({"day": 0.0, "week": 5 / 40, "month": 10 / 20})


def test_no_budget_no_gauge_no_events(tmp_path):
    path = tmp_path / "prices.yaml"
    path.write_text(PRICES)
    with Pipeline({"prices_file": str(path)}) as p:
        p.span("chat", llm_attributes("m", 10**9, 0, "test"))
        assert p.spans()["chat"].events == ()
        assert p.points("spanmeter.budget.utilization") == []
        assert p.log_exporter.get_finished_logs() == ()


class _NoSDKProvider:
    """A logger provider that is not the SDK's (e.g. the API's no-op one)."""


@pytest.mark.parametrize("provider", [_NoSDKProvider(), LoggerProvider()], ids=["not the SDK's", "SDK's, no exporter"])
def test_crossing_that_no_log_exporter_would_carry_goes_to_python_logging(provider, caplog):
    """Under OTEL_LOGS_EXPORTER=none the SDK still installs a LoggerProvider with no
    processor; a budget alert must not vanish into it."""
    crossing = Crossing(window="day", threshold=1.0, spend_usd=2.5, budget_usd=2.0)
    with caplog.at_level(logging.WARNING, logger="spanmeter.budget"):
        log_crossing(crossing, None, None, logger_provider=provider)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR
    assert "100% of the $2.00 budget" in record.getMessage()


def test_small_budgets_are_printed_with_significant_digits(caplog):
    crossing = Crossing(window="day", threshold=0.5, spend_usd=0.0021, budget_usd=0.004)
    with caplog.at_level(logging.WARNING, logger="spanmeter.budget"):
        log_crossing(crossing, None, None, logger_provider=_NoSDKProvider())
    (record,) = caplog.records
    assert record.getMessage() == "spanmeter: day LLM spend $0.0021 reached 50% of the $0.004 budget"


def test_status_reports_spend_bounds_and_a_linear_projection():
    start, end = window_bounds("day", datetime(2026, 3, 2, 6, tzinfo=UTC).timestamp())
    now = start + (end - start) / 4  # a quarter of the day gone
    tracker = BudgetTracker({"day": 10.0, "month": 100.0}, clock=lambda: now)
    tracker.add(2.0)
    day, month = tracker.status()
    assert (day.window, day.spend_usd, day.budget_usd, day.utilization) == ("day", 2.0, 10.0, 0.2)
    assert (day.start_s, day.end_s) == (start, end)
    assert day.projected_usd == pytest.approx(8.0)
    month_start, month_end = window_bounds("month", now)
    assert (month.window, month.start_s, month.end_s) == ("month", month_start, month_end)
    assert month.projected_usd == pytest.approx(2.0 * (month_end - month_start) / (now - month_start))
