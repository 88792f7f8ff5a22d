"""Saved churn models: trained on a refit day, reused to score the days in between.

Each training writes `churn-model-<as-of>-<UTC time>.joblib` and a `.json` beside it with what a
person (and `should_refit`) needs without unpickling: the as-of date it was trained for, the
fingerprint of the churn settings, the feature columns, the validation figures and when it was
saved. Earlier versions stay, so a forced refit never overwrites the model a run used that
morning (`pipelines.model_store`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.model_store import claim_version, latest_model, load_model, write_model
from pipelines.predictive.churn import ChurnModel
from pipelines.refit import config_hash

PREFIX = "churn-model-"


def save_churn_model(model: ChurnModel, folder: Path, config: dict[str, Any]) -> Path:
    """Write a trained model and its metadata under `folder`; `config` is the churn section."""
    if model.classifier is None or model.trained_as_of is None:
        raise ValueError("only a trained churn model is saved (this one was not trained)")
    now = datetime.now(UTC)
    version = claim_version(folder, PREFIX, f"{model.trained_as_of}-{now:%Y%m%dT%H%M%S%f}")
    meta = {
        "fit_date": str(model.trained_as_of),
        "version": version,
        "config_hash": config_hash(config),
        "columns": model.columns,
        "validation": model.validation,
        "saved_at": now.isoformat(timespec="microseconds"),
    }
    return write_model(folder, PREFIX, version, model, meta)


def latest_churn_model(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest saved model under `folder` (by as-of date, then time)."""
    return latest_model(folder, PREFIX)


def load_churn_model(path: Path) -> ChurnModel:
    return load_model(path, ChurnModel)
