"""Versioned model files: shared by the clustering and the churn model.

A model is saved under one folder as `<prefix><version>.joblib` with a `.json` of its metadata
beside it, so a person (and `should_refit`) can read what it is without unpickling it. A save
never overwrites an earlier one: a version already there gets the next `-fit<n>` suffix. The
newest model is the one of the latest `fit_date`, of several on that date the one saved last.

joblib is imported where it is used, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

Model = TypeVar("Model")


def claim_version(folder: Path, prefix: str, base_version: str) -> str:
    """The first version from `base_version`, `<base_version>-fit2`, ... not saved under
    `folder` yet; its `.json` is created empty so another save at the same moment takes the next."""
    folder.mkdir(parents=True, exist_ok=True)
    version, fit_number = base_version, 1
    while True:
        try:
            # "x": create only if absent, so the name is ours alone
            (folder / f"{prefix}{version}.json").open("x").close()
            return version
        except FileExistsError:
            fit_number += 1
            version = f"{base_version}-fit{fit_number}"


def write_model(
    folder: Path, prefix: str, version: str, model: object, metadata: dict[str, Any]
) -> Path:
    """Write `model` as `<folder>/<prefix><version>.joblib` and `metadata` beside it; the version
    comes from `claim_version`. `metadata` has the `fit_date` and `saved_at` that order saves."""
    import joblib

    missing = [key for key in ("fit_date", "saved_at") if key not in metadata]
    if missing:
        raise ValueError(
            f"metadata of {prefix}{version} lacks {missing}: needed to find the newest"
        )
    path = folder / f"{prefix}{version}.joblib"
    joblib.dump(model, path)
    path.with_suffix(".json").write_text(json.dumps(metadata, indent=2))
    return path


def latest_model(folder: Path | str, prefix: str) -> tuple[Path, dict[str, Any]] | None:
    """(path, metadata) of the newest model saved under `folder`: the latest `fit_date`, then the
    latest `saved_at`. None when there is none."""
    saved = []
    for meta_path in Path(folder).glob(f"{prefix}*.json"):
        text = meta_path.read_text()
        if not text:
            # claimed by a save that has not written its metadata yet
            continue
        meta = json.loads(text)
        # models saved before `saved_at` was recorded: the file's modification time
        saved_at = meta.get("saved_at") or datetime.fromtimestamp(
            meta_path.stat().st_mtime, UTC
        ).isoformat(timespec="microseconds")
        saved.append((str(meta["fit_date"]), saved_at, meta_path.name, meta_path, meta))
    if not saved:
        return None
    *_, meta_path, meta = max(saved, key=lambda row: row[:3])
    return meta_path.with_suffix(".joblib"), meta


def load_model(path: Path | str, expected: type[Model]) -> Model:
    """The model saved at `path`; a TypeError naming the file and both types if it is another."""
    import joblib

    model = joblib.load(Path(path))
    if not isinstance(model, expected):
        raise TypeError(
            f"{path}: expected a saved {expected.__name__}, found {type(model).__name__}"
        )
    return model
