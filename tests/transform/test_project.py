"""The dbt manifest is parsed when the project changed, not on every load of the code location."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from pipelines.settings import PROJECT_ROOT
from pipelines.transform.project import dbt_project, manifest_is_stale


def _project(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "models" / "marts").mkdir(parents=True)
    (tmp_path / "dbt_project.yml").write_text("name: shop\n")
    (tmp_path / "models" / "marts" / "customers.sql").write_text("select 1 as customer_key\n")
    manifest = tmp_path / "target" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text("{}")
    return tmp_path, manifest


def _age(path: Path, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_missing_manifest_is_stale(tmp_path: Path) -> None:
    project_dir, manifest = _project(tmp_path)
    manifest.unlink()
    assert manifest_is_stale(project_dir, manifest)


def test_manifest_newer_than_every_project_file_is_fresh(tmp_path: Path) -> None:
    project_dir, manifest = _project(tmp_path)
    for path in project_dir.rglob("*"):
        if path.is_file() and path != manifest:
            _age(path, 60)
    assert not manifest_is_stale(project_dir, manifest)


def test_an_edited_model_or_config_makes_the_manifest_stale(tmp_path: Path) -> None:
    project_dir, manifest = _project(tmp_path)
    _age(manifest, 60)
    for path in project_dir.rglob("*"):
        if path.is_file() and path != manifest:
            _age(path, 120)
    model = project_dir / "models" / "marts" / "customers.sql"
    model.write_text("select 2 as customer_key\n")
    assert manifest_is_stale(project_dir, manifest)
    _age(model, 120)
    (project_dir / "dbt_project.yml").write_text("name: shop\nversion: '2'\n")
    assert manifest_is_stale(project_dir, manifest)


def test_dagster_dev_load_reuses_a_fresh_manifest() -> None:
    """Under `dagster dev` the code location loads without running `dbt parse` again.

    The interpreter's folder is left off PATH, as with `make ui`: the load must not need `dbt` on
    PATH either.
    """
    manifest = dbt_project().manifest_path  # parsed here if the project changed
    before = manifest.stat().st_mtime_ns
    bin_dir = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != bin_dir)
    result = subprocess.run(
        [sys.executable, "-c", "import pipelines.definitions"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "DAGSTER_IS_DEV_CLI": "1", "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert manifest.stat().st_mtime_ns == before, "the manifest was parsed again on load"
