"""The dbt project, built once per process and shared by the assets and the tests."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from dagster_dbt import DbtProject
from filelock import FileLock

from pipelines.resources import dbt_resource
from pipelines.settings import DBT_PROJECT_DIR

# What `dbt parse` reads: a change to any of these makes the manifest out of date.
PROJECT_FILES = ("dbt_project.yml", "profiles.yml", "packages.yml", "dependencies.yml")
PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests", "analyses")


def manifest_is_stale(project_dir: Path, manifest_path: Path) -> bool:
    """Whether the manifest is missing or older than a file of the dbt project."""
    if not manifest_path.exists():
        return True
    built = manifest_path.stat().st_mtime
    sources = [project_dir / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        sources += (project_dir / folder).rglob("*")
    return any(path.is_file() and path.stat().st_mtime > built for path in sources)


@cache
def dbt_project() -> DbtProject:
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    # `dbt parse` writes the manifest without opening the warehouse. It runs only when a model,
    # macro or config is newer than the manifest (a fresh clone, an edit under `dagster dev`), not
    # on every load as `prepare_if_dev` would (a whole parse, tens of seconds, per UI reload); and
    # with the dbt beside this interpreter, which `prepare_if_dev` would look for on PATH.
    project_dir = Path(project.project_dir)
    if manifest_is_stale(project_dir, project.manifest_path):
        # one process parses; the others (a UI's code server, a run, a test) wait and reuse it
        with FileLock(project.manifest_path.with_suffix(".parse-lock"), timeout=300):
            if manifest_is_stale(project_dir, project.manifest_path):
                dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project
