"""The code location loads without the heavy analysis libraries: they load when an asset runs.

Loading `pipelines.definitions` happens on every `dagster dev` start and reload, every run's
process and every sensor tick's code server, so scikit-learn, SciPy, Great Expectations, pandas
and matplotlib (several seconds each) belong inside the asset functions that use them. This checks
which modules a fresh interpreter holds after the import; it does not time anything.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy", "great_expectations", "pandas", "matplotlib", "duckdb_engine")

# Records, for each heavy package, the innermost `pipelines` line that first imported it.
PROBE = """
import json, sys, traceback

HEAVY = set(json.loads(sys.argv[1]))
first_importer = {}


class Recorder:
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in HEAVY and top not in first_importer:
            stack = traceback.extract_stack()
            # an import, not a library asking importlib.util.find_spec whether it is installed
            if stack[-3].name == "_find_and_load_unlocked":
                ours = [f"{f.filename}:{f.lineno}" for f in stack if "/pipelines/" in f.filename]
                first_importer[top] = ours[-1] if ours else "a library"
        return None


sys.meta_path.insert(0, Recorder())
import pipelines.definitions  # noqa: E402,F401

print(json.dumps({m: first_importer.get(m, "?") for m in HEAVY if m in sys.modules}))
"""


def test_code_location_loads_without_heavy_libraries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {}, (
        "importing pipelines.definitions loaded "
        + ", ".join(f"{module} (first imported at {where})" for module, where in loaded.items())
        + "; import them inside the function that uses them"
    )
