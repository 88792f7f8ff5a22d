"""Keeping segment ids and names from one fit to the next, and deciding when to refit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from pipelines.segmentation.config import config_hash


def match_centroids(
    new_centroids: np.ndarray, previous_centroids: np.ndarray, max_distance: float
) -> dict[int, int]:
    """Pairs new clusters with previous ones (Hungarian matching on centroid distance).

    Both arrays are centroids in the same scaled space, one row per cluster. Returns
    {new row: previous row} for pairs closer than `max_distance`; a new cluster left out is
    genuinely new and gets a fresh id.
    """
    distances = np.linalg.norm(new_centroids[:, None, :] - previous_centroids[None, :, :], axis=2)
    new_rows, previous_rows = linear_sum_assignment(distances)
    return {
        int(n): int(p)
        for n, p in zip(new_rows, previous_rows, strict=True)
        if distances[n, p] <= max_distance
    }


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
) -> RefitDecision:
    """Refit when there is no model, when the settings (`config`, named `settings` in the
    reason) changed, or when the saved model is `refit_every_days` old; otherwise use the saved
    model. The predictive stage decides its churn refits with this too."""
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
