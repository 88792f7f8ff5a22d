"""The versioned model folder the clustering and the churn model save into."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.model_store import claim_version, latest_model, load_model, write_model

PREFIX = "test-model-"


@dataclass
class Model:
    name: str


@dataclass
class OtherModel:
    name: str


def _save(folder: Path, model: object, fit_date: str, saved_at: str) -> Path:
    version = claim_version(folder, PREFIX, f"{fit_date}-v")
    metadata = {"fit_date": fit_date, "version": version, "saved_at": saved_at}
    return write_model(folder, PREFIX, version, model, metadata)


def test_two_saves_of_the_same_version_keep_both(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    first = _save(folder, Model("morning"), "2026-03-02", "2026-03-02T06:00:00.000000+00:00")
    second = _save(folder, Model("forced"), "2026-03-02", "2026-03-02T09:00:00.000000+00:00")
    assert (first.name, second.name) == (
        "test-model-2026-03-02-v.joblib",
        "test-model-2026-03-02-v-fit2.joblib",
    )
    assert load_model(first, Model) == Model("morning")
    assert load_model(second, Model) == Model("forced")
    assert json.loads(second.with_suffix(".json").read_text())["version"] == "2026-03-02-v-fit2"


def test_the_newest_is_the_latest_fit_date_then_the_last_saved(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    assert latest_model(folder, PREFIX) is None
    _save(folder, Model("a"), "2026-03-02", "2026-03-02T06:00:00.000000+00:00")
    later_date = _save(folder, Model("b"), "2026-03-03", "2026-03-03T06:00:00.000000+00:00")
    # a backfill of an earlier date, saved after: not the newest
    _save(folder, Model("c"), "2026-03-02", "2026-03-04T06:00:00.000000+00:00")
    path, meta = latest_model(folder, PREFIX)
    assert (path, meta["fit_date"]) == (later_date, "2026-03-03")
    refit = _save(folder, Model("d"), "2026-03-03", "2026-03-03T18:00:00.000000+00:00")
    assert latest_model(folder, PREFIX)[0] == refit
    # a claimed name whose save has not finished is not a model yet
    claim_version(folder, PREFIX, "2026-03-09-v")
    assert latest_model(folder, PREFIX)[0] == refit


def test_a_model_saved_before_saved_at_was_recorded_is_ordered_by_its_file_time(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "models"
    old = _save(folder, Model("old"), "2026-03-02", "unused")
    meta_path = old.with_suffix(".json")
    meta_path.write_text(json.dumps({"fit_date": "2026-03-02", "version": "2026-03-02-v"}))
    os.utime(meta_path, (1_700_000_000, 1_700_000_000))  # 2023-11-14
    assert latest_model(folder, PREFIX) == (
        old,
        {"fit_date": "2026-03-02", "version": "2026-03-02-v"},
    )
    newer = _save(folder, Model("new"), "2026-03-02", "2026-03-02T06:00:00.000000+00:00")
    assert latest_model(folder, PREFIX)[0] == newer


def test_loading_a_model_of_another_type_names_the_file_and_both_types(tmp_path: Path) -> None:
    path = _save(tmp_path, OtherModel("x"), "2026-03-02", "2026-03-02T06:00:00.000000+00:00")
    with pytest.raises(TypeError) as error:
        load_model(path, Model)
    assert str(error.value) == f"{path}: expected a saved Model, found OtherModel"


def test_metadata_without_the_fields_that_order_saves_is_refused(tmp_path: Path) -> None:
    version = claim_version(tmp_path, PREFIX, "v")
    with pytest.raises(ValueError, match=r"test-model-v lacks \['saved_at'\]"):
        write_model(tmp_path, PREFIX, version, Model("x"), {"fit_date": "2026-03-02"})
