"""Where spans are born: one module per library, plus the manual API for user code."""
