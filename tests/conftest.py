"""Shared fixtures: a tiny generated business in a temporary data folder, Dagster home and warehouse.

Every test that runs the pipeline gets its own folder through environment variables read at run
time (`SEGMENTS_DATA_DIR`, `WAREHOUSE_PATH`, `DAGSTER_HOME`): nothing touches the project's data/.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.settings import PROJECT_ROOT


def sample_end() -> date:
    """The last day of the samples the tests generate: yesterday, as a shop's newest export.

    The samples' figures (how many customers bought twice, how the clusters fall) depend on the
    day they end, so a failure seen on one day may not show on the next. `TEST_SAMPLE_END`
    (YYYY-MM-DD, before today) generates them as on the day after it: `TEST_SAMPLE_END=2026-11-26
    make test` is the run of 2026-11-27.
    """
    yesterday = date.today() - timedelta(days=1)
    chosen = os.environ.get("TEST_SAMPLE_END")
    if not chosen:
        return yesterday
    try:
        end = date.fromisoformat(chosen)
    except ValueError:
        raise ValueError(f"TEST_SAMPLE_END: a date YYYY-MM-DD expected, found {chosen!r}") from None
    if end > yesterday:
        raise ValueError(f"TEST_SAMPLE_END: a day before today expected, found {chosen}")
    return end


# The tiny business every end-to-end test shares: generated once per test session.
TINY_CUSTOMERS = 200
TINY_DAYS = 60
TINY_END = sample_end()


@dataclass(frozen=True)
class Workspace:
    data_dir: Path
    warehouse: Path
    dagster_home: Path

    def env(self) -> dict[str, str]:
        return {
            "SEGMENTS_DATA_DIR": str(self.data_dir),
            "WAREHOUSE_PATH": str(self.warehouse),
            "DAGSTER_HOME": str(self.dagster_home),
        }


@pytest.fixture(scope="session")
def tiny_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated sample (with defects) that tests copy rather than regenerate."""
    from pipelines.sample_data import generate

    out = tmp_path_factory.mktemp("tiny_sample")
    generate(out, customers=TINY_CUSTOMERS, days=TINY_DAYS, end_date=TINY_END, seed=7)
    return out


def make_workspace(root: Path, sample: Path | None) -> Workspace:
    data_dir = root / "data"
    if sample is not None:
        shutil.copytree(sample, data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster" / "dagster.yaml", home / "dagster.yaml")
    return Workspace(data_dir=data_dir, warehouse=data_dir / "warehouse.duckdb", dagster_home=home)


@pytest.fixture
def workspace(
    tmp_path: Path, tiny_sample: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A fresh data folder holding the tiny sample, its own warehouse file and Dagster home."""
    ws = make_workspace(tmp_path, tiny_sample)
    for key, value in ws.env().items():
        monkeypatch.setenv(key, value)
    yield ws


@pytest.fixture(autouse=True)
def _no_project_side_effects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never write to the project's own data/ or .dagster/ by accident."""
    for key in ("SEGMENTS_DATA_DIR", "WAREHOUSE_PATH", "DAGSTER_HOME"):
        if key not in os.environ or os.environ[key].startswith(str(PROJECT_ROOT)):
            monkeypatch.setenv(key, str(tmp_path / "unset" / key.lower()))
