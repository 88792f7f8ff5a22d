"""Saved predictive models: fitted on a refit day, reused for the days in between.

Each churn training writes `churn-model-<as-of>-<UTC time>.joblib` and a `.json` beside it with
what a person (and `should_refit`) needs without unpickling: the as-of date it was trained for,
the fingerprint of the churn settings, the feature columns, the validation figures and when it was
saved. A CLV fit writes `clv-model-<as-of>-<UTC time>.joblib` the same way, its `.json` holding
the BG/NBD and Gamma-Gamma parameters. Earlier versions stay, so a forced refit never overwrites
the model a run used that morning (`pipelines.model_store`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.model_store import claim_version, latest_model, load_model, write_model
from pipelines.predictive.churn import ChurnModel
from pipelines.predictive.clv import ClvModel
from pipelines.refit import config_hash

PREFIX = "churn-model-"
CLV_PREFIX = "clv-model-"


def _save(
    model: object,
    folder: Path,
    prefix: str,
    fit_date: object,
    config: dict[str, Any],
    details: dict[str, Any],
) -> Path:
    """Write `model` as a new version under `folder` with its fit date, the fingerprint of its
    settings `config`, `details` for a person to read, and when it was saved."""
    now = datetime.now(UTC)
    version = claim_version(folder, prefix, f"{fit_date}-{now:%Y%m%dT%H%M%S%f}")
    meta = {
        "fit_date": str(fit_date),
        "version": version,
        "config_hash": config_hash(config),
        **details,
        "saved_at": now.isoformat(timespec="microseconds"),
    }
    return write_model(folder, prefix, version, model, meta)


def save_churn_model(model: ChurnModel, folder: Path, config: dict[str, Any]) -> Path:
    """Write a trained model and its metadata under `folder`; `config` is the churn section."""
    if model.classifier is None or model.trained_as_of is None:
        raise ValueError("only a trained churn model is saved (this one was not trained)")
    details = {"columns": model.columns, "validation": model.validation}
    return _save(model, folder, PREFIX, model.trained_as_of, config, details)


def latest_churn_model(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest saved model under `folder` (by as-of date, then time)."""
    return latest_model(folder, PREFIX)


def load_churn_model(path: Path) -> ChurnModel:
    return load_model(path, ChurnModel)


def save_clv_model(model: ClvModel, folder: Path, config: dict[str, Any]) -> Path:
    """Write a fitted CLV model and its metadata under `folder`; `config` is the clv section."""
    details = {"parameters": model.parameters}
    return _save(model, folder, CLV_PREFIX, model.fitted_as_of, config, details)


def latest_clv_model(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest saved CLV model under `folder`."""
    return latest_model(folder, CLV_PREFIX)


def load_clv_model(path: Path) -> ClvModel:
    return load_model(path, ClvModel)
