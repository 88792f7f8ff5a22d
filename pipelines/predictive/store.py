"""Saved churn models: trained on a refit day, reused to score the days in between.

Each training writes `churn-model-<as-of>-<UTC time>.joblib` and a `.json` beside it with what a
person (and `should_refit`) needs without unpickling: the as-of date it was trained for, the
fingerprint of the churn settings, the feature columns and the validation figures. Earlier
versions stay, so a forced refit never overwrites the model a run used that morning.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib

from pipelines.predictive.churn import ChurnModel
from pipelines.refit import config_hash

PREFIX = "churn-model-"


def save_churn_model(model: ChurnModel, folder: Path, config: dict[str, Any]) -> Path:
    """Write a trained model and its metadata under `folder`; `config` is the churn section."""
    if model.classifier is None or model.trained_as_of is None:
        raise ValueError("only a trained churn model is saved (this one was not trained)")
    folder.mkdir(parents=True, exist_ok=True)
    version = f"{model.trained_as_of}-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    path = folder / f"{PREFIX}{version}.joblib"
    joblib.dump(model, path)
    meta = {
        "fit_date": str(model.trained_as_of),
        "version": version,
        "config_hash": config_hash(config),
        "columns": model.columns,
        "validation": model.validation,
    }
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return path


def latest_churn_model(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest saved model under `folder` (by as-of date, then time)."""
    saved = [
        (json.loads(meta_path.read_text()), meta_path)
        for meta_path in folder.glob(f"{PREFIX}*.json")
    ]
    if not saved:
        return None
    meta, meta_path = max(saved, key=lambda pair: (pair[0]["fit_date"], pair[0]["version"]))
    return meta_path.with_suffix(".joblib"), meta


def load_churn_model(path: Path) -> ChurnModel:
    model = joblib.load(path)
    if not isinstance(model, ChurnModel):
        raise TypeError(f"{path}: expected a saved ChurnModel, found {type(model).__name__}")
    return model
