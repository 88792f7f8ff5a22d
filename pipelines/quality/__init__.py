"""Quality gates: Great Expectations suites and history checks as Dagster asset checks, and alerts."""
