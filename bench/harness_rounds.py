"""Alternating rounds of the side-by-side harness, and the per-round ratios to pgqueuer.

    python bench/harness_rounds.py run --rounds 5 --out /tmp/enq.jsonl \\
        goodjob::enqueue pgqueuer:defaults:enqueue floor::enqueue
    python bench/harness_rounds.py summary /tmp/enq.jsonl single_jobs_per_s batch_jobs_per_s

``run`` calls the harness copy's ``run.py --reps 1`` once per system and round (a spec is
``system:variant:scenario``), rotating the order every round, and adds ``"round"`` to each JSON
line. ``summary`` prints each round's figures, each system's median and range, and every system's
ratio to pgqueuer within each round, with their median.

Why: on the shared 2-core VM a system's rate moves by up to 2x within a minute, so the harness's
``--reps 3`` (three runs of one system, then three of the next) can compare a fast minute with a
slow one; a ratio of two runs a few seconds apart, taken over several rounds, is steadier (on
2026-12-03 the same build gave 0.67x and 2.36x single enqueue in two ``--reps 3`` orders minutes
apart, 0.75-1.47x in rounds). The harness copy and its venv are the ones bench/README.md sets up;
``floor`` is bench/harness_floor_adapter.py copied into the harness's adapters.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
from pathlib import Path


def run(harness: Path, python: str, rounds: int, out: Path, specs: list[str]) -> None:
    for r in range(rounds):
        for i in range(len(specs)):
            system, variant, scenario = specs[(i + r) % len(specs)].split(":")
            done = subprocess.run(
                [python, "run.py", "--system", system, "--scenario", scenario, "--reps", "1", "--variant", variant],
                cwd=harness, check=True, capture_output=True, text=True,
            )
            with out.open("a") as f:
                for line in done.stdout.splitlines():
                    if line.startswith("{"):
                        f.write(json.dumps({**json.loads(line), "round": r}) + "\n")
            print(f"round {r}: {system} {scenario} done", flush=True)


def summary(path: Path, keys: list[str]) -> None:
    rounds: dict[tuple[str, int], dict[str, dict[str, float]]] = collections.defaultdict(dict)
    for line in path.read_text().splitlines():
        d = json.loads(line)
        rounds[(d["scenario"], d["round"])][d["system"]] = d["median"]
    for key in keys:
        print(f"== {key}")
        values: dict[str, list[float]] = collections.defaultdict(list)
        ratios: dict[str, list[float]] = collections.defaultdict(list)
        for (scenario, r), systems in sorted(rounds.items()):
            figures = {s: m[key] for s, m in systems.items() if key in m}
            if not figures:
                continue
            print(f"{scenario} round {r}: " + "  ".join(f"{s} {v:,.3f}" for s, v in figures.items()))
            for s, v in figures.items():
                values[s].append(v)
                if s != "pgqueuer" and figures.get("pgqueuer"):
                    ratios[s].append(v / figures["pgqueuer"])
        for s, vs in values.items():
            print(f"  {s}: median {statistics.median(vs):,.3f}, range {min(vs):,.3f}-{max(vs):,.3f}")
        for s, rs in ratios.items():
            listed = ", ".join(f"{x:.2f}" for x in rs)
            print(f"  {s} / pgqueuer per round: {listed}; median {statistics.median(rs):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--harness", type=Path, default=Path("/tmp/bench"))
    p_run.add_argument("--python", default="/tmp/benchvenv/bin/python")
    p_run.add_argument("--rounds", type=int, default=5)
    p_run.add_argument("--out", type=Path, required=True)
    p_run.add_argument("specs", nargs="+")
    p_sum = sub.add_parser("summary")
    p_sum.add_argument("path", type=Path)
    p_sum.add_argument("keys", nargs="+")
    args = parser.parse_args()
    if args.command == "run":
        run(args.harness, args.python, args.rounds, args.out, args.specs)
    else:
        summary(args.path, args.keys)


if __name__ == "__main__":
    main()
