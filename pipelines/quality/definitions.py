"""The quality stage's definitions: a check per watched table and the alert sensors.

No resources here: the checks use the `duckdb` resource the code location provides.
"""

import dagster as dg

from pipelines.quality.checks import suite_checks
from pipelines.quality.sensors import alert_on_run_failure, alert_on_warnings

defs = dg.Definitions(asset_checks=suite_checks, sensors=[alert_on_run_failure, alert_on_warnings])
