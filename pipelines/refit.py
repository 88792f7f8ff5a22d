"""When a saved model is due for a refit: shared by the clustering, churn and CLV models.

Each saved model keeps the fingerprint of the settings it was fitted with (`config_hash`) and the
as-of date it was fitted for; `should_refit` compares them with today's settings and date.

The weekly `model_refit` run fits every model again, outside the daily run. Seven daily runs
fall between two of its runs, so on the seventh the saved models are exactly `refit_every_days`
old and their refit is the next morning's: the daily run waits `DAILY_RUN_GRACE_DAYS` for it and
refits a model itself only when that run has not (it failed, or its schedule is off).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any

DAILY_RUN_GRACE_DAYS = 1
# the asset group of the fitted models: what the `model_refit` job selects and `daily_refresh` not
MODELS_GROUP = "models"


def config_hash(config: dict[str, Any]) -> str:
    """A short fingerprint of a configuration: a changed setting means a refit."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RefitDecision:
    """Whether to fit a new model today, and why (shown in the run's metadata).

    `saved_usable`: the saved model was fitted with today's settings on an earlier date, and is
    refitted only for its age or on request. If the new fit fails, it still serves today.
    """

    refit: bool
    reason: str
    saved_usable: bool = False

    def __bool__(self) -> bool:
        return self.refit


def should_refit(
    previous_model_meta: dict[str, Any] | None,
    as_of_date: date,
    config: dict[str, Any],
    settings: str = "clustering",
    force_refit: bool = False,
    grace_days: int = 0,
) -> RefitDecision:
    """Refit when there is no model, when the settings (`config`, named `settings` in the
    reason) changed, or when the saved model is `refit_every_days` old (`grace_days` more for the
    daily run, which leaves a due model to the `model_refit` run that long); otherwise use the
    saved model, unless the run asks for a refit (`force_refit`)."""
    decision = _due(previous_model_meta, as_of_date, config, settings, grace_days)
    if force_refit and not decision:
        return RefitDecision(
            True, f"refit requested; otherwise {decision.reason}", saved_usable=True
        )
    return decision


def _due(
    previous_model_meta: dict[str, Any] | None,
    as_of_date: date,
    config: dict[str, Any],
    settings: str,
    grace_days: int,
) -> RefitDecision:
    if previous_model_meta is None:
        return RefitDecision(True, "no saved model yet")
    if previous_model_meta.get("config_hash") != config_hash(config):
        return RefitDecision(True, f"{settings} settings changed since the saved model")
    fit_date = date.fromisoformat(str(previous_model_meta["fit_date"]))
    age = (as_of_date - fit_date).days
    if age < 0:
        return RefitDecision(True, f"saved model fitted on {fit_date}, after {as_of_date}")
    every = config["refit_every_days"]
    if age >= every + grace_days:
        late = ", and the model_refit run has not refitted it" if grace_days else ""
        return RefitDecision(
            True, f"saved model is {age} days old (refit every {every}){late}", saved_usable=True
        )
    if age >= every:
        return RefitDecision(
            False, f"saved model is {age} days old (refit every {every}, by the model_refit run)"
        )
    return RefitDecision(False, f"saved model is {age} days old (refit every {every})")
