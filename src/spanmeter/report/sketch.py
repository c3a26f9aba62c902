"""Deprecated alias: the percentile sketch moved to :mod:`spanmeter.processing.sketch`, the one
sketch every view uses. Import it from there; this module goes in a later release."""

import warnings

from spanmeter.processing.sketch import EXACT_LIMIT, RELATIVE_ERROR, LatencySketch

__all__ = ["EXACT_LIMIT", "RELATIVE_ERROR", "LatencySketch"]

warnings.warn("spanmeter.report.sketch moved to spanmeter.processing.sketch", DeprecationWarning, stacklevel=2)
