"""Identity resolution scored on the simulated clientele (runs without the sample generator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.transform.dbt_runner import run_dbt
from tests.transform.identity_score import score_against_truth
from tests.transform.simulated_identities import simulate


@pytest.mark.slow
def test_identity_resolution_on_simulated_clientele(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    simulate(warehouse, tmp_path / "truth", people=2000, seed=1)
    run_dbt(warehouse, tmp_path, ["run", "--select", "+customer_identifiers", "+orders"])

    score, unscored = score_against_truth(warehouse, tmp_path / "truth")
    with capsys.disabled():
        print(f"\nsimulation: {score}; {unscored} orders without a usable identifier not scored")
    assert score.precision >= 0.98, str(score)
    assert score.recall >= 0.98, str(score)
