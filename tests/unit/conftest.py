"""Fixtures of tests/support that unit tests request by name."""

from support.instrumentation import instrumented, stepping_clock

__all__ = [
    "instrumented",
    "stepping_clock",
]  # needs the test module's `instrument = instrument_fixture(SomeInstrumentor)`
