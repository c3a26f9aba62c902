"""``spanmeter bench``: load-test a callable (an agent, a chain, a pipeline stage) under spanmeter's
instrumentation, read its own spans back for tokens, cost and where the time went, and gate CI on
regressions against a saved result.
"""
