"""When a saved model is due for a refit: shared by the clustering, churn and CLV models.

Each saved model keeps the fingerprint of the settings it was fitted with (`config_hash`) and the
as-of date it was fitted for; `should_refit` compares them with today's settings and date.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from typing import Any


def config_hash(config: dict[str, Any]) -> str:
    """A short fingerprint of a configuration: a changed setting means a refit."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RefitDecision:
    """Whether to fit a new model today, and why (shown in the run's metadata)."""

    refit: bool
    reason: str

    def __bool__(self) -> bool:
        return self.refit


def should_refit(
    previous_model_meta: dict[str, Any] | None,
    as_of_date: date,
    config: dict[str, Any],
    settings: str = "clustering",
    force_refit: bool = False,
) -> RefitDecision:
    """Refit when there is no model, when the settings (`config`, named `settings` in the
    reason) changed, or when the saved model is `refit_every_days` old; otherwise use the saved
    model, unless the run asks for a refit (`force_refit`)."""
    decision = _due(previous_model_meta, as_of_date, config, settings)
    if force_refit and not decision:
        return RefitDecision(True, f"refit requested; otherwise {decision.reason}")
    return decision


def _due(
    previous_model_meta: dict[str, Any] | None,
    as_of_date: date,
    config: dict[str, Any],
    settings: str,
) -> RefitDecision:
    if previous_model_meta is None:
        return RefitDecision(True, "no saved model yet")
    if previous_model_meta.get("config_hash") != config_hash(config):
        return RefitDecision(True, f"{settings} settings changed since the saved model")
    fit_date = date.fromisoformat(str(previous_model_meta["fit_date"]))
    age = (as_of_date - fit_date).days
    if age < 0:
        return RefitDecision(True, f"saved model fitted on {fit_date}, after {as_of_date}")
    if age >= config["refit_every_days"]:
        return RefitDecision(
            True, f"saved model is {age} days old (refit every {config['refit_every_days']})"
        )
    return RefitDecision(
        False, f"saved model is {age} days old (refit every {config['refit_every_days']})"
    )
