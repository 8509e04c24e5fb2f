#!/usr/bin/env python3
"""What the opscheck plugin adds to ``pytest --collect-only``, with an environment selected.

Why dummy files: the shipped suites' conftests and test modules import opscheck (``opscheck.run.session``,
``opscheck.clients.http``, ...), so ``-p no:opscheck`` on the real suites would still import most of the package
(and fail on ``--strict-markers`` from the repository's pyproject). The script therefore generates a
directory of *equivalent dummy test files* from the real suites: the same file names, the same test
function names, the same parametrize ids (taken from a real ``--collect-only`` with the environment
selected), the same ``@pytest.mark.runbook(...)`` markers copied verbatim, but no imports besides pytest,
no fixtures and no conftest. That directory is collected

* with the plugin active and the environment selected (``--env bench --opscheck-config …``), and
* bare, with ``-p no:opscheck`` (the ``runbook`` marker is then registered by a ``pytest.ini`` so both
  sides see the same markers and no warnings),

so the difference is everything the plugin costs at collection: importing opscheck and what it pulls in
(``pytest_plugins = ["opscheck.fixtures"]``), loading the config and runbook, validating markers, the
header/summary hooks and the reports it writes at session end. Target: ≤ 150 ms (median difference).

Both are measured twice: with the process environment as it is (this machine exports
``PYTHONDONTWRITEBYTECODE=1``, so pytest re-runs its assertion rewriting of every opscheck module on each
start, as the plugin's package is marked for rewriting), and with a warm bytecode cache
(``PYTHONDONTWRITEBYTECODE`` unset, ``PYTHONPYCACHEPREFIX`` pointing at a temporary directory so nothing
is written into the repository). For reference it also times the real ``suites`` collection with the
plugin, the plugin loaded but inert (no environment), and prints where the plugin's import time goes.

    .venv/bin/python benchmarks/plugin_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tomli_w

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, stats, table, verdict, write_results

TARGET_MS = 150.0
SUITES = REPO / "suites"
RUN_TIMEOUT_S = 120.0
PAGES = ["/", "/login"]
SHORT = ["dummy+plugin", "dummy bare", "real+plugin", "empty bare", "empty inert"]


def write_config(directory: Path) -> Path:
    path = directory / "opscheck.toml"
    bench = {
        "base_url": "http://127.0.0.1:9",
        "runbook": str(REPO / "examples" / "RUNBOOK.md"),
        "smoke": {"pages": PAGES},
        "backups": {"location": str(directory / "backups")},
        "restore": {"provider": "local"},
    }
    path.write_text(tomli_w.dumps({"environments": {"bench": bench}}), encoding="utf-8")
    return path


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)
) -> tuple[float, float, str]:
    """(wall s, CPU s of the child: user + sys, stdout). CPU time barely moves with the machine's load."""
    cpu = _children_cpu()
    started = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu
    if proc.returncode not in ok:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        )
    return wall, cpu, proc.stdout


# ------------------------------------------------------------------------------------ dummy suite builder


def collected_ids(stdout: str) -> dict[tuple[str, str], list[str] | None]:
    """(file relative to suites, function) → parametrize ids (None: not parametrized), from ``-q`` output."""
    found: dict[tuple[str, str], list[str] | None] = {}
    for line in stdout.splitlines():
        match = re.match(r"^(?:.*/)?suites/(\S+?\.py)::(\w+)(?:\[(.*)\])?$", line.strip())
        if not match:
            continue
        key = (match.group(1), match.group(2))
        if match.group(3) is None:
            found[key] = None
        else:
            ids = found.get(key) or []
            ids.append(match.group(3))
            found[key] = ids
    return found


def _marker_decorators(func: ast.FunctionDef, source: str) -> list[str]:
    kept = []
    for decorator in func.decorator_list:
        text = ast.get_source_segment(source, decorator) or ""
        if text.startswith("pytest.mark.") and not text.startswith("pytest.mark.parametrize"):
            kept.append(text)
    return kept


def build_dummy_suites(target: Path, ids: dict[tuple[str, str], list[str] | None]) -> tuple[int, int]:
    """Mirror every ``suites/*/test_*.py`` into ``target``; returns (files, test items)."""
    files = items = 0
    for path in sorted(SUITES.glob("*/test_*.py")):
        rel = path.relative_to(SUITES).as_posix()
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        lines = [
            '"""Dummy mirror of suites/' + rel + ' (generated by benchmarks/plugin_overhead.py)."""',
            "",
            "import pytest",
            "",
        ]
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
            ):
                lines += [ast.get_source_segment(source, node) or "", ""]
            if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test")):
                continue
            case_ids = ids.get((rel, node.name), "missing")
            if case_ids == "missing":
                continue  # not collected with this environment: leave it out on both sides
            lines += [""] + [f"@{text}" for text in _marker_decorators(node, source)]
            if case_ids is None:
                lines += [f"def {node.name}():", "    pass", ""]
                items += 1
            else:
                lines += [
                    f"@pytest.mark.parametrize('case', {case_ids!r}, ids={case_ids!r})",
                    f"def {node.name}(case):",
                    "    pass",
                    "",
                ]
                items += len(case_ids)
        out = target / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text("\n".join(lines), encoding="utf-8")
        files += 1
    # registers the plugin's markers for the bare run (and is harmless when the plugin registers them too)
    (target / "pytest.ini").write_text(
        "[pytest]\nmarkers =\n    runbook: runbook section and severity\n    destructive: changes state\n",
        encoding="utf-8",
    )
    return files, items


# ------------------------------------------------------------------------------------------ import split


#: what the plugin needs to register its hooks, without the modules that pull in boto3, psycopg,
#: testcontainers and httpx (an estimate of what lazy imports would leave)
CORE_MODULES = (
    "opscheck.run.session",
    "opscheck.run.markers",
    "opscheck.run.redaction",
    "opscheck.run.results",
    "opscheck.reporting.summary",
    "opscheck.reporting.allure_results",
    "opscheck.run.context",
    "opscheck.errors",
    "opscheck.hookspecs",
)
_GROUPS = {
    "botocore": "boto3",
    "s3transfer": "boto3",
    "jmespath": "boto3",
    "docker": "testcontainers",
    "httpcore": "httpx",
    "anyio": "httpx",
    "h11": "httpx",
    "sniffio": "httpx",
    "allure_commons": "allure",
    "allure_pytest": "allure",
}


def _import_once(python: str, env: dict[str, str], modules: tuple[str, ...]) -> dict[str, float]:
    code = "import pytest, _pytest.assertion.rewrite; import " + ", ".join(modules)
    proc = subprocess.run(
        [python, "-X", "importtime", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    # importtime prints a module when its import completes (children before parents), so what the
    # opscheck imports cost is everything printed after the -c statement's pytest imports completed
    parsed = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            parsed.append((int(match.group(1)), len(match.group(3)) // 2, match.group(4)))
    prelude = [i for i, (_, depth, name) in enumerate(parsed) if depth == 0 and "pytest" in name]
    first = prelude[-1] + 1 if prelude else 0
    totals: dict[str, float] = defaultdict(float)
    stdlib = set(sys.stdlib_module_names)
    for self_us, _, name in parsed[first:]:
        top = name.split(".")[0]
        group = _GROUPS.get(top, "stdlib" if top in stdlib else top)
        totals[group] += self_us / 1000
    return totals


def import_breakdown(
    python: str, env: dict[str, str], modules: tuple[str, ...], repeat: int = 3
) -> tuple[float, list[tuple[str, float]]]:
    """Import time (ms) of ``modules`` once pytest is imported, split by top-level package (self
    times, ``python -X importtime``); the quickest of ``repeat`` runs."""
    runs = [_import_once(python, env, modules) for _ in range(repeat)]
    best = min(runs, key=lambda totals: sum(totals.values()))
    return sum(best.values()), sorted(best.items(), key=lambda item: -item[1])


# -------------------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measurement (default 7)")
    args = parser.parse_args(argv)
    info = machine()
    print_machine(info)
    info["PYTHONDONTWRITEBYTECODE"] = os.environ.get("PYTHONDONTWRITEBYTECODE")
    print(f"  PYTHONDONTWRITEBYTECODE={info['PYTHONDONTWRITEBYTECODE']!r} in this environment")
    python = sys.executable

    with tempfile.TemporaryDirectory(prefix="opscheck-bench-plugin-") as tmp:
        work = Path(tmp)
        config = write_config(work)
        reports = work / "reports"
        env_opts = ["--env", "bench", "--opscheck-config", str(config), "--opscheck-reports", str(reports)]
        base = [python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        as_is = dict(os.environ)
        warm = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        warm["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        modes = {"as-is": as_is, "warm-cache": warm}

        _, _, real_out = run([*base, str(SUITES), *env_opts], REPO, as_is)
        ids = collected_ids(real_out)
        dummy = work / "dummy"
        files, items = build_dummy_suites(dummy, ids)
        print(
            f"\ndummy mirror: {files} files, {items} items (real suites collected {len(real_out.splitlines())} lines)"
        )

        variants = {
            "dummy, plugin + env": ([*base, ".", *env_opts], dummy, (0,)),
            "dummy, -p no:opscheck": ([*base, ".", "-p", "no:opscheck"], dummy, (0,)),
            "real suites, plugin + env": ([*base, str(SUITES), *env_opts], REPO, (0,)),
            "empty dir, -p no:opscheck": ([*base, str(work / "empty"), "-p", "no:opscheck"], work, (5,)),
            "empty dir, plugin inert": ([*base, str(work / "empty")], work, (5,)),
        }
        (work / "empty").mkdir()
        walls: dict[str, dict[str, list[float]]] = {m: {v: [] for v in variants} for m in modes}
        cpus: dict[str, dict[str, list[float]]] = {m: {v: [] for v in variants} for m in modes}
        loads: dict[str, list[float]] = {}
        for mode, env in modes.items():
            for cmd, cwd, ok in variants.values():  # warm-up: fills the pycache of the warm mode
                run(cmd, cwd, env, ok)
            loads[mode] = [round(x, 2) for x in os.getloadavg()]
            for i in range(args.runs):
                # interleaved, so drift of this shared machine's load hits every variant alike
                for name, (cmd, cwd, ok) in variants.items():
                    wall, cpu, _ = run(cmd, cwd, env, ok)
                    walls[mode][name].append(wall * 1000)
                    cpus[mode][name].append(cpu * 1000)
                print(
                    f"[{mode} {i + 1}/{args.runs}] wall/cpu ms: "
                    + ", ".join(
                        f"{short} {walls[mode][n][-1]:.0f}/{cpus[mode][n][-1]:.0f}"
                        for short, n in zip(SHORT, variants, strict=True)
                    ),
                    flush=True,
                )
        full = ("opscheck.plugin", "opscheck.fixtures")
        breakdown = {mode: import_breakdown(python, env, full) for mode, env in modes.items()}
        core = {mode: import_breakdown(python, env, CORE_MODULES)[0] for mode, env in modes.items()}

    results: dict[str, Any] = {
        "benchmark": "plugin_overhead",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "runs": args.runs,
        "loadavg_before_mode": loads,
        "dummy_suite": {"files": files, "items": items},
        "wall_ms": {m: {v: stats(vals) for v, vals in per.items()} for m, per in walls.items()},
        "cpu_ms": {m: {v: stats(vals) for v, vals in per.items()} for m, per in cpus.items()},
        "target_ms": TARGET_MS,
    }
    print()
    for mode in modes:
        wall_st, cpu_st = results["wall_ms"][mode], results["cpu_ms"][mode]
        overhead: dict[str, float | bool] = {}
        for kind, st in (("wall", wall_st), ("cpu", cpu_st)):
            plugin, bare = st["dummy, plugin + env"], st["dummy, -p no:opscheck"]
            overhead[f"{kind}_median_diff"] = round(plugin["median"] - bare["median"], 1)
            overhead[f"{kind}_min_diff"] = round(plugin["min"] - bare["min"], 1)
        overhead["target_met"] = overhead["wall_median_diff"] <= TARGET_MS
        results.setdefault("overhead_ms", {})[mode] = overhead
        what = "environment as inherited" if mode == "as-is" else "bytecode cache on, warmed"
        print(f"== {mode} ({what}; load average {loads[mode]}): ms over {args.runs} runs")
        print(
            table(
                ["variant", "wall median", "wall min", "wall max", "cpu median", "cpu min"],
                [
                    [
                        v,
                        f"{s['median']:.0f}",
                        f"{s['min']:.0f}",
                        f"{s['max']:.0f}",
                        f"{cpu_st[v]['median']:.0f}",
                        f"{cpu_st[v]['min']:.0f}",
                    ]
                    for v, s in wall_st.items()
                ],
            )
        )
        print(
            f"plugin overhead (dummy, plugin + env  minus  dummy, -p no:opscheck): wall median "
            f"{overhead['wall_median_diff']:.0f} ms (min {overhead['wall_min_diff']:.0f}), cpu median "
            f"{overhead['cpu_median_diff']:.0f} ms (min {overhead['cpu_min_diff']:.0f}) -> target <= "
            f"{TARGET_MS:g} ms: {verdict(bool(overhead['target_met']))}\n"
        )
    for mode, (total, rows) in breakdown.items():
        print(f"import time of opscheck.plugin + opscheck.fixtures after pytest ({mode}): {total:.0f} ms")
        print(table(["package", "self ms"], [[name, f"{ms:.0f}"] for name, ms in rows[:10]]))
        print(
            f"  of which the plugin core alone ({', '.join(m.split('.')[1] for m in CORE_MODULES)}) "
            f"imports in {core[mode]:.0f} ms: the rest is what lazy imports could save\n"
        )
        results.setdefault("import_ms", {})[mode] = {
            "total": round(total, 1),
            "core_modules_only": round(core[mode], 1),
            "by_package": {name: round(ms, 1) for name, ms in rows},
        }
    out = write_results("plugin_overhead", results)
    print(f"results written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
