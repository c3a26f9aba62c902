"""spanmeter's own alert rules and notifiers, and the Prometheus rules generated from the same thresholds."""
