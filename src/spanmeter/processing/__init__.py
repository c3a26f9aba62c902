"""What happens to a finished span before it leaves: pricing, roll-up, cost per GB,
budgets, anomaly flags and derived metrics."""

from spanmeter.processing.processor import SpanmeterProcessor

__all__ = ["SpanmeterProcessor"]
