"""Stage totals, ratios to the floor and the peer, the issue's targets, and the Markdown table."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.machine import describe

MB = 2**20
TOP_MODELS = 10

# stage of the pipeline -> the floor stage that does the least version of the same work
FLOOR_OF_STAGE = {"ingest": "load", "transform": "rfm_sql", "segmentation": "kmeans"}


def stage_totals(steps: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per stage, summed over the run's steps (they run one after another)."""
    totals: dict[str, float] = defaultdict(float)
    for step in steps:
        totals[step["stage"]] += step["wall_s"]
    return {stage: round(seconds, 3) for stage, seconds in totals.items()}


def floor_ratios(full_build: dict[str, Any], floor: dict[str, Any]) -> list[dict[str, Any]]:
    """Pipeline seconds / floor seconds per stage, and for the whole process."""
    stages = stage_totals(full_build["steps"])
    rows = []
    for stage, floor_stage in FLOOR_OF_STAGE.items():
        pipeline_s = stages.get(stage)
        floor_s = floor["stages_s"].get(floor_stage)
        rows.append(_ratio_row(stage, pipeline_s, floor_stage, floor_s))
    rows.append(
        _ratio_row("total (process)", full_build["wall_s"], "total (process)", floor["wall_s"])
    )
    return rows


def _ratio_row(
    stage: str, pipeline_s: float | None, floor_stage: str, floor_s: float | None
) -> dict:
    ratio = pipeline_s / floor_s if pipeline_s is not None and floor_s else None
    return {
        "stage": stage,
        "pipeline_s": pipeline_s,
        "floor_stage": floor_stage,
        "floor_s": floor_s,
        "ratio": round(ratio, 1) if ratio is not None else None,
    }


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    tier: str | None  # the tier the issue sets the target for; None: every tier
    limit: float
    higher_is_better: bool = False


# the weekly `model_refit` run after the two-year day (bench.cli)
MODEL_REFIT = "model_refit_2y"

TARGETS = [
    Target("full_build_s", "full build ≤ 15 min (s)", "L", 900),
    Target("full_build_vs_floor", "full build ≤ 2x floor (ratio)", "L", 2.0),
    Target("peak_rss_mb", "peak memory ≤ 8 GB (MB)", "L", 8192),
    Target("incremental_s", "one-day incremental ≤ 90 s (s, 2 years of history)", "L", 90),
    Target(
        "incremental_2y_vs_1y",
        "incremental no slower at 2 years than at 1 (ratio, ≤ 1.10 allows noise)",
        "L",
        1.10,
    ),
    Target("code_location_load_s", "code location loads ≤ 5 s (s, median of 3)", None, 5),
    Target(
        "peer_over_pipeline",
        "≥ 10x faster than the pandas peer (peer s / pipeline s)",
        "M",
        10,
        True,
    ),
]


def target_values(result: dict[str, Any]) -> dict[str, float | None]:
    runs = result["runs"]
    full = runs.get("full_build")
    incr2 = runs.get("incremental_2y")
    incr1 = runs.get("incremental_1y")
    floor = result.get("floor")
    peer = result.get("peer")
    return {
        "full_build_s": full["wall_s"] if full else None,
        "full_build_vs_floor": full["wall_s"] / floor["wall_s"]
        if full and floor and not floor.get("error")
        else None,
        "peak_rss_mb": full["peak_rss_mb"] if full else None,
        "incremental_s": incr2["wall_s"] if incr2 else None,
        "incremental_2y_vs_1y": incr2["wall_s"] / incr1["wall_s"] if incr2 and incr1 else None,
        "code_location_load_s": result.get("code_location_load_s"),
        "peer_over_pipeline": peer["wall_s"] / full["wall_s"]
        if peer and full and not peer.get("error")
        else None,
    }


def judge(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target with this tier's value and met / missed (or why it is not judged here)."""
    values = target_values(result)
    rows = []
    for target in TARGETS:
        value = values[target.key]
        if value is None:
            status = "not measured"
        elif target.tier not in (None, result["tier"]):
            status = f"{target.tier} target, not judged at {result['tier']}"
        elif (value >= target.limit) if target.higher_is_better else (value <= target.limit):
            status = "met"
        else:
            status = "missed"
        rows.append(
            {
                "target": target.text,
                "value": round(value, 2) if value is not None else None,
                "status": status,
            }
        )
    return rows


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ratio(a: float | None, b: float | None) -> str:
    """`a` over `b` as `1.38x`, or `-` when there is nothing to divide by."""
    return f"{a / b:.2f}x" if a is not None and b else "-"


def _side_by_side(
    runs: dict[str, Any],
    names: tuple[str, str],
    title: str,
    labels: tuple[str, str],
) -> list[str]:
    """Two runs' steps (and slowest dbt models) side by side, with the first over the second."""
    first, second = runs.get(names[0]), runs.get(names[1])
    if not (first and second):
        return []

    lines = [
        "",
        f"## {title}",
        "",
        f"| step | {labels[0]} s | {labels[1]} s | ratio |",
        "|---|---:|---:|---:|",
    ]
    second_steps = {s["step"]: s["wall_s"] for s in second["steps"]}
    for step in first["steps"]:
        other = second_steps.get(step["step"])
        lines.append(
            f"| {step['step']} | {_fmt(step['wall_s'])} | {_fmt(other)} | "
            f"{_ratio(step['wall_s'], other)} |"
        )
    lines.append(
        f"| whole run (process) | {_fmt(first['wall_s'])} | {_fmt(second['wall_s'])} | "
        f"{_ratio(first['wall_s'], second['wall_s'])} |"
    )
    second_models = {m["asset"]: m["seconds"] for m in second.get("models", [])}
    if first.get("models"):
        lines += [
            "",
            f"| dbt model (slowest {TOP_MODELS} at {labels[0]}) | {labels[0]} s | "
            f"{labels[1]} s | ratio |",
            "|---|---:|---:|---:|",
        ]
        for model in first["models"][:TOP_MODELS]:
            other = second_models.get(model["asset"])
            lines.append(
                f"| {model['asset']} | {_fmt(model['seconds'], 2)} | {_fmt(other, 2)} | "
                f"{_ratio(model['seconds'], other)} |"
            )
    return lines


def _what_the_days_held(
    runs: dict[str, Any], names: tuple[str, str], labels: tuple[str, str]
) -> list[str]:
    """The customers and rows each one-day run had to handle, side by side: a day of a grown
    shop is larger, and the ratio of the runs reads differently beside it."""
    first, second = ((runs.get(name) or {}).get("held") for name in names)
    if not (first and second) or "error" in first or "error" in second:
        return []

    def row(what: str, a: int, b: int) -> str:
        return f"| {what} | {_fmt(a)} | {_fmt(b)} | {_ratio(a, b)} |"

    lines = [
        "",
        "What each day's run had to handle (counted in its warehouse after the run):",
        "",
        f"| | {labels[0]} | {labels[1]} | ratio |",
        "|---|---:|---:|---:|",
    ]
    customers = "customers known (each segmented, scored, published)"
    lines.append(row(customers, first["customers"], second["customers"]))
    for count, what in (("day", "loaded for the day"), ("all", "in all days")):
        for entity, rows in first["raw_rows"].items():
            other = second["raw_rows"].get(entity, {})
            lines.append(row(f"{entity} {what}", rows[count], other.get(count, 0)))
    lines.append(
        row(
            "rows quarantined on the day",
            first["quarantined_on_the_day"],
            second["quarantined_on_the_day"],
        )
    )
    return lines


def _model_refit(run: dict[str, Any] | None) -> list[str]:
    """The weekly `model_refit` run's steps: the model fits the daily runs no longer do."""
    if not run:
        return []
    lines = [
        "",
        f"## The weekly model refit ({MODEL_REFIT}: the `model_refit` run after the two-year day)",
        "",
        f"It fits the clustering, churn and CLV models again in a run of its own, "
        f"{_fmt(run['wall_s'])} s process wall at a peak of {_fmt(run['peak_rss_mb'], 0)} MB; "
        "the daily runs segment and predict with the models it saves.",
        "",
        "| step | s | peak MB |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {step['step']} | {_fmt(step['wall_s'])} | {_fmt(step.get('peak_rss_mb'), 0)} |"
        for step in run["steps"]
    ]
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The tier's figures as Markdown: runs, steps, floor ratios, peer, targets."""
    tier = result["tier"]
    days_only = result.get("kind") == "days_only"
    lines = [
        f"# Benchmark tier {tier}" + (": the one-day runs only" if days_only else ""),
        "",
        f"{result['customers']:,} customers, {result['history_days']} days of history "
        f"({result['first_day']} .. {result['last_history_day']}), incremental day "
        f"{result['incremental_day']}; measured {result['measured_at']} on {result['machine']}, "
        f"commit {result['commit']}.",
        "",
    ]
    check = result.get("machine_check")  # reports written before 2026-12-03 have none
    if check:
        lines += [
            "How fast the machine was (`bench/machine.py`): at the start, "
            f"{describe(check['start'])}; at the end, {describe(check['end'])}.",
            "",
        ]
    settings = result.get("duckdb_settings")  # reports written before 2026-12-04 have none
    if settings is not None:
        overridden = ", ".join(f"`{name}={value}`" for name, value in settings.items())
        lines += [
            f"DuckDB settings from the environment: {overridden or 'none, the defaults'}.",
            "",
        ]
    if days_only:
        lines += [
            "Each one-day run ran on a copy of its warehouse kept before the day by "
            "`--keep-before-day`: "
            + "; ".join(
                f"{name} on the copy kept {info['kept_at']} at commit {info['commit']}"
                for name, info in result["kept"].items()
            )
            + ". The builds, the floor and the peer were not run.",
            "",
        ]
    lines += [
        "## Runs",
        "",
        "| run | days loaded | process wall s | Dagster run s | peak RSS MB | outcome |",
        "|---|---|---:|---:|---:|---|",
    ]
    for name, run in result["runs"].items():
        outcome = "success" if run["success"] else "FAILED at " + ", ".join(run["failed_steps"])
        lines.append(
            f"| {name} | {run['days'] or '-'} | {_fmt(run['wall_s'])} | {_fmt(run['run_wall_s'])} | "
            f"{_fmt(run['peak_rss_mb'], 0)} | {outcome} |"
        )
    steps_by_run = {
        name: {s["step"]: s for s in run["steps"]} for name, run in result["runs"].items()
    }
    full = steps_by_run.get("full_build", {})
    if full:
        lines += [
            "",
            "## Steps (full build; incremental at 2 years beside it)",
            "",
            "| step | stage | full s | full peak MB | incremental s | incremental peak MB |",
            "|---|---|---:|---:|---:|---:|",
        ]
        incremental = steps_by_run.get("incremental_2y", {})
        for key, step in full.items():
            other = incremental.get(key, {})
            lines.append(
                f"| {key} | {step['stage']} | {_fmt(step['wall_s'])} | "
                f"{_fmt(step['peak_rss_mb'], 0)} | {_fmt(other.get('wall_s'))} | "
                f"{_fmt(other.get('peak_rss_mb'), 0)} |"
            )
    models = result["runs"].get("full_build", {}).get("models", [])
    if models:
        incremental = {
            m["asset"]: m["seconds"]
            for m in result["runs"].get("incremental_2y", {}).get("models", [])
        }
        lines += [
            "",
            f"## Slowest dbt models (seconds dbt reports; {len(models)} models in all)",
            "",
            "| model | full s | incremental s |",
            "|---|---:|---:|",
        ]
        for model in models[:TOP_MODELS]:
            lines.append(
                f"| {model['asset']} | {_fmt(model['seconds'], 2)} | "
                f"{_fmt(incremental.get(model['asset']), 2)} |"
            )
        lines.append(
            f"| all models | {_fmt(sum(m['seconds'] for m in models), 2)} | "
            f"{_fmt(sum(incremental.values()), 2) if incremental else '-'} |"
        )
        dbt_step = next(
            s for s in result["runs"]["full_build"]["steps"] if s["step"] == models[0]["step"]
        )
        lines += [
            "",
            f"The `{dbt_step['step']}` step took {_fmt(dbt_step['wall_s'])} s in the full build, of "
            f"which the models account for {_fmt(sum(m['seconds'] for m in models))} s; the rest is "
            "dbt start-up and parsing, data and unit tests, and recording the events.",
        ]
    lines += _side_by_side(
        result["runs"],
        ("incremental_2y", "incremental_1y"),
        "The one-day runs: 2 years of history beside 1 year",
        ("2 years", "1 year"),
    )
    lines += _what_the_days_held(
        result["runs"], ("incremental_2y", "incremental_1y"), ("2 years", "1 year")
    )
    lines += _model_refit(result["runs"].get(MODEL_REFIT))
    if result.get("floor") and result.get("floor_ratios"):
        floor = result["floor"]
        lines += [
            "",
            f"## Against the floor (DuckDB read + one RFM SQL + MiniBatchKMeans: "
            f"{_fmt(floor['wall_s'])} s, peak {_fmt(floor['peak_rss_mb'], 0)} MB)",
            "",
            "| pipeline stage | pipeline s | floor stage | floor s | ratio |",
            "|---|---:|---|---:|---:|",
        ]
        for row in result["floor_ratios"]:
            lines.append(
                f"| {row['stage']} | {_fmt(row['pipeline_s'])} | {row['floor_stage']} | "
                f"{_fmt(row['floor_s'], 2)} | {_fmt(row['ratio'])}x |"
            )
    for name in ("floor", "peer"):
        if (result.get(name) or {}).get("error"):
            lines += [
                "",
                f"The {name} failed after {_fmt(result[name]['wall_s'])} s: {result[name]['error']}",
            ]
    peer = result.get("peer")
    if peer and not peer.get("error"):
        stages = ", ".join(f"{k} {_fmt(v)} s" for k, v in peer["stages_s"].items() if k != "total")
        lines += [
            "",
            f"## Pandas peer: {_fmt(peer['wall_s'])} s process wall ({stages}), "
            f"peak {_fmt(peer['peak_rss_mb'], 0)} MB",
        ]
    elif not days_only:
        lines += ["", "## Pandas peer: not run at this tier"]
    if not days_only:
        lines += [
            "",
            "Code location load (`import pipelines.definitions`, fresh process, median of 3): "
            f"{_fmt(result.get('code_location_load_s'), 2)} s; the harness's first import "
            "(code location, dbt, pandas, sklearn; fills its bytecode cache when empty): "
            f"{_fmt(result.get('first_load_s'), 2)} s.",
        ]
    lines += ["", "## Targets", "", "| target | value | status |", "|---|---:|---|"]
    for row in result["targets"]:
        lines.append(f"| {row['target']} | {_fmt(row['value'], 2)} | {row['status']} |")
    return "\n".join(lines) + "\n"
