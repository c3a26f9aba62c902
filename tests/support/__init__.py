"""Helpers shared by the test suites (fixtures, fakes, metric readers): one copy each."""
