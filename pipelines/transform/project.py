"""The dbt project, built once per process and shared by the assets and the tests."""

from __future__ import annotations

from functools import cache

from dagster_dbt import DbtProject

from pipelines.resources import dbt_resource
from pipelines.settings import DBT_PROJECT_DIR


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # `dbt parse` writes the manifest without opening the warehouse; only needed on a fresh clone
    # or after a model changed under `dagster dev`.
    if not project.manifest_path.exists():
        dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    else:
        project.prepare_if_dev()
    return project
