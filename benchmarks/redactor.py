#!/usr/bin/env python3
"""The redactor, new against old, in one run: registering secrets and scrubbing log text.

The old redactor (``opscheck/secrets.py`` at ``--baseline-rev``, read with ``git show`` and loaded as a
module, so no copy of it lives here) recompiled one big regular expression whenever a secret was added
and scanned with it. The new one queues secrets and scans with Aho-Corasick automata built in levels.

Secrets are a seeded mix like a real run's: 60 % tokens of 24-32 characters, 30 % passwords of 10-16
characters with punctuation, 10 % session-cookie values of ~200 characters. The log text is generated
lines (timestamps, levels, URLs, ids, words) with a registered secret in one line of 500.

Measured, for each redactor and each number of secrets N:

* ``add``: registering N secrets (nothing else);
* ``add+build``: registering N secrets and scrubbing one line (the first scrub builds the matcher);
* ``interleaved``: N times "register one secret, scrub one log line", like session cookies arriving
  while records are logged (the old redactor recompiled on each); next to it the same N scrubs once every
  secret is indexed, so that the difference is what the adds and builds cost;
* ``MB/s``: scrubbing the log text with N secrets registered, as one text and line by line.

Targets (issue 14 point 4): adding 10,000 secrets < 100 ms in total; ≥ 50 MB/s of log text with 10,000
secrets registered. The old redactor is measured at smaller N only (it is quadratic): ``--baseline-max``.

    .venv/bin/python benchmarks/redactor.py                 # N = 320, 1000, 3000, 10000; 50 MB of text
    .venv/bin/python benchmarks/redactor.py --quick         # N up to 1000, 5 MB
"""

from __future__ import annotations

import argparse
import math
import random
import string
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, machine, print_machine, table, verdict, write_results

sys.path.insert(0, str(REPO))
from opscheck.secrets import Redactor

ADD_TARGET_MS = 100.0
THROUGHPUT_TARGET_MB_S = 50.0
SECRETS_FOR_TARGETS = 10_000


def load_baseline(revision: str) -> type:
    """The ``Redactor`` class of ``opscheck/secrets.py`` at ``revision``."""
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{revision}:opscheck/secrets.py"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    module = types.ModuleType("baseline_secrets")
    exec(compile(source, f"{revision}:opscheck/secrets.py", "exec"), module.__dict__)  # noqa: S102
    return module.Redactor  # type: ignore[no-any-return]


def make_secrets(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    token_chars = string.ascii_letters + string.digits + "-_"
    password_chars = string.ascii_letters + string.digits + "!#$%&*+/?@~"
    values = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.6:
            alphabet, length = token_chars, rng.randint(24, 32)
        elif kind < 0.9:
            alphabet, length = password_chars, rng.randint(10, 16)
        else:
            alphabet, length = token_chars + ".", rng.randint(180, 220)
        values.append("".join(rng.choice(alphabet) for _ in range(length)))
    return values


def make_log(megabytes: float, secrets: list[str], seed: int) -> list[str]:
    """Log lines adding up to ``megabytes``; one line in 500 carries one of ``secrets``."""
    rng = random.Random(seed)
    words = ["GET", "POST", "INFO", "WARNING", "DEBUG", "user", "request", "took", "ms", "status", "ok"]
    words += [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 9))) for _ in range(500)
    ]
    lines: list[str] = []
    size = 0
    number = 0
    while size < megabytes * 1_000_000:
        number += 1
        line = (
            f"2026-11-29T05:{number % 60:02d}:{number % 59:02d}.{number % 1000:03d}Z "
            f"{rng.choice(('INFO', 'DEBUG', 'WARNING'))} httpx HTTP Request: GET "
            f"https://app.example.com/api/{rng.choice(words)}/{rng.randint(1, 10**9):x}?page={rng.randint(1, 99)} "
            + " ".join(rng.choice(words) for _ in range(rng.randint(4, 12)))
        )
        if number % 500 == 0:
            line += f" token={rng.choice(secrets)}"
        lines.append(line + "\n")
        size += len(line) + 1
    return lines


def timed(action: Callable[[], Any]) -> tuple[float, float]:
    """Wall-clock and CPU seconds of ``action`` (on a shared machine the CPU time is the steadier one)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(
    make: Callable[[], Any], secrets: list[str], lines: list[str], text: str, *, interleave: bool
) -> dict[str, Any]:
    one_line = lines[0]

    registered = make()
    add = timed(lambda: registered.add_all(secrets))

    built = make()
    build = timed(lambda: (built.add_all(secrets), built.scrub(one_line)))

    interleaved = make()

    def arrive_one_by_one() -> None:
        for value, line in zip(secrets, lines * (len(secrets) // len(lines) + 1), strict=False):
            interleaved.add(value)
            interleaved.scrub(line)

    one_by_one = timed(arrive_one_by_one) if interleave else (math.nan, math.nan)
    interleaved_lines = (lines * (len(secrets) // len(lines) + 1))[: len(secrets)]
    # the same scrubs with every secret already indexed: what the interleaved run spends on adds and builds
    # is its time minus this
    scrubs_only = (
        timed(lambda: [interleaved.scrub(line) for line in interleaved_lines])
        if interleave
        else (math.nan, math.nan)
    )
    whole = timed(lambda: built.scrub(text))
    by_line = timed(lambda: [built.scrub(line) for line in lines])
    scrubbed = built.scrub(text)
    megabytes = len(text.encode()) / 1e6
    return {
        "add_ms": round(add[0] * 1000, 1),
        "add_build_ms": round(build[0] * 1000, 1),
        "add_build_cpu_ms": round(build[1] * 1000, 1),
        "interleaved_ms": round(one_by_one[0] * 1000, 1),
        "interleaved_cpu_ms": round(one_by_one[1] * 1000, 1),
        "interleaved_scrubs_only_cpu_ms": round(scrubs_only[1] * 1000, 1),
        "text_mb": round(megabytes, 1),
        "text_mb_s": round(megabytes / whole[0], 1),
        "text_mb_s_cpu": round(megabytes / whole[1], 1),
        "lines_mb_s": round(megabytes / by_line[0], 1),
        "lines_mb_s_cpu": round(megabytes / by_line[1], 1),
        "secrets_left_in_output": sum(1 for value in secrets if value in scrubbed),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[320, 1000, 3000, SECRETS_FOR_TARGETS])
    parser.add_argument("--megabytes", type=float, default=50.0, help="log text scrubbed by the new redactor")
    parser.add_argument("--baseline-rev", default="61f7acb", help="commit whose redactor is the baseline")
    parser.add_argument("--baseline-max", type=int, default=1000, help="largest N the old redactor runs")
    parser.add_argument("--baseline-megabytes", type=float, default=0.5, help="log text for the old one")
    parser.add_argument(
        "--baseline-interleaved-max", type=int, default=320, help="largest N of the old one's interleaved run"
    )
    parser.add_argument("--quick", action="store_true", help="N up to 1000 and 5 MB, to check the script")
    args = parser.parse_args()
    if args.quick:
        args.counts, args.megabytes, args.baseline_max, args.baseline_interleaved_max = (
            [320, 1000],
            5.0,
            320,
            100,
        )

    info = machine()
    print_machine(info)
    baseline = load_baseline(args.baseline_rev)
    all_secrets = make_secrets(max(args.counts), seed=1)
    results: list[dict[str, Any]] = []
    for count in args.counts:
        secrets = all_secrets[:count]
        for name, make, megabytes in (
            ("new", Redactor, args.megabytes),
            (f"old ({args.baseline_rev})", baseline, args.baseline_megabytes),
        ):
            if name.startswith("old") and count > args.baseline_max:
                continue
            lines = make_log(megabytes, secrets, seed=2)
            interleave = name == "new" or count <= args.baseline_interleaved_max
            numbers = measure(make, secrets, lines, "".join(lines), interleave=interleave)
            results.append({"redactor": name, "secrets": count, **numbers})
            print(f"  measured {name} with {count} secrets: {numbers}", flush=True)

    headers = ["redactor", "N", "add ms", "add+build ms (cpu)", "interleaved ms (cpu)", "scrubs alone cpu ms"]
    headers += ["text MB"]
    headers += ["MB/s text (cpu)", "MB/s lines (cpu)", "left"]
    rows = [
        [
            r["redactor"],
            r["secrets"],
            r["add_ms"],
            f"{r['add_build_ms']} ({r['add_build_cpu_ms']})",
            f"{r['interleaved_ms']} ({r['interleaved_cpu_ms']})",
            r["interleaved_scrubs_only_cpu_ms"],
            r["text_mb"],
            f"{r['text_mb_s']} ({r['text_mb_s_cpu']})",
            f"{r['lines_mb_s']} ({r['lines_mb_s_cpu']})",
            r["secrets_left_in_output"],
        ]
        for r in results
    ]
    print()
    print(table(headers, rows))
    target = next(
        (r for r in results if r["redactor"] == "new" and r["secrets"] == SECRETS_FOR_TARGETS), None
    )
    if target is not None:
        print()
        print(
            f"adding {SECRETS_FOR_TARGETS} secrets: {target['add_ms']} ms (target < {ADD_TARGET_MS:g} ms): "
            f"{verdict(target['add_ms'] < ADD_TARGET_MS)}; with the first scrub, which builds the automaton: "
            f"{target['add_build_ms']} ms ({target['add_build_cpu_ms']} ms CPU)"
        )
        print(
            f"scrubbing with {SECRETS_FOR_TARGETS} secrets, MB/s wall (CPU): one text {target['text_mb_s']} "
            f"({target['text_mb_s_cpu']}), line by line {target['lines_mb_s']} ({target['lines_mb_s_cpu']}); "
            f"target >= {THROUGHPUT_TARGET_MB_S:g}: {verdict(target['text_mb_s'] >= THROUGHPUT_TARGET_MB_S)} "
            f"(wall), {verdict(target['lines_mb_s_cpu'] >= THROUGHPUT_TARGET_MB_S)} (CPU, line by line)"
        )
    path = write_results("redactor", {"machine": info, "args": vars(args), "results": results})
    print(f"results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
