"""Fixtures of tests/support that unit tests request by name."""

from support.instrumentation import instrumented

__all__ = ["instrumented"]  # needs the test module's `instrument = instrument_fixture(SomeInstrumentor)`
