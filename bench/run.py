"""Run benchmark suites, print a table and write the results as JSON to ``bench/results/``.

Usage: ``python -m bench [suite ...] [--quick] [--list] [--out DIR]`` or ``python bench/run.py [...]``.
A suite is a module ``bench/<name>.py`` with ``run(quick=False) -> list[dict]`` (see ``bench/README.md``).
A full run writes ``bench/results/<date>-<machine>[-<suites>].json`` with the machine facts inside
(``bench/_env.py``); ``--quick`` is a smoke run (every workload once, in this process, no figures) that
writes nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import re
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `python bench/run.py` from the repository root
    sys.path.insert(0, str(HERE.parent))

_NOT_SUITES = {"__init__", "__main__", "run"}


def available_suites():
    """Names of the suite modules in ``bench/`` (every ``bench/<name>.py`` except the harness itself)."""
    names = (p.stem for p in HERE.glob("*.py"))
    return sorted(n for n in names if n not in _NOT_SUITES and not n.startswith("_"))


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_table(rows):
    """Rows as an aligned text table."""
    cols = ["suite", "workload", "impl", "value", "unit", "ratio_vs_reference", "reference", "target",
            "meets_target"]
    header = ["suite", "workload", "impl", "value", "unit", "ratio", "vs", "target", "ok"]
    cells = [header] + [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _machine_slug(facts):
    """A short file-name tag for this machine: its CPU model and usable CPU count."""
    model = re.sub(r"\(.*?\)|processor|cpu|@.*", "", str(facts.get("cpu_model", "")), flags=re.I)
    words = re.findall(r"[a-z0-9]+", model.lower())[:3]
    return "-".join(words + [f"{facts.get('usable_cpus')}cpu"])


def main(argv=None):
    """Parse arguments, run the suites, print the table, write JSON; exit status 1 if a suite crashed."""
    parser = argparse.ArgumentParser(prog="python -m bench", description="tapeflow benchmarks")
    parser.add_argument("suites", nargs="*", help=f"suites to run (default: all of {available_suites()})")
    parser.add_argument("--quick", action="store_true", help="fewer rounds / smaller sizes (a smoke run)")
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    parser.add_argument("--workloads", default=None,
                        help="comma-separated workload names to run in the training suites (cnn64, lstm256, "
                             "gru64, tob32, fit128, infer1024, ...; default: all)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds per contender in the cnn, lstm and training suites (default 3)")
    parser.add_argument("--out", default=None, help="folder for the JSON results (default: bench/results; "
                        "a --quick run writes none unless given)")
    args = parser.parse_args(argv)
    if args.list:
        for name in available_suites():
            doc = (importlib.import_module(f"bench.{name}").__doc__ or "").strip().splitlines()
            print(f"{name:12s} {doc[0] if doc else ''}")
        return 0
    names = args.suites or available_suites()
    unknown = [n for n in names if n not in available_suites()]
    if unknown:
        parser.error(f"unknown suite(s) {unknown}; choose from {available_suites()}")
    import bench

    bench.SMOKE = args.quick
    bench.ONLY = None if args.workloads is None else set(args.workloads.split(","))
    bench.ROUNDS = args.rounds
    from bench import _env

    facts = _env.machine()  # the load before the run
    all_rows, failed = [], []
    for name in names:
        print(f"== {name} ...", flush=True)
        try:
            suite_rows = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        except Exception:  # one broken suite must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        for r in suite_rows:
            r.setdefault("suite", name)
        all_rows.extend(suite_rows)
    print(format_table(all_rows))
    if args.quick and args.out is None:
        return 1 if failed else 0
    facts["load_average_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    out_dir = Path(args.out or HERE / "results")
    out_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    tag = "" if not args.suites else "-" + "-".join(names)
    path = out_dir / f"{now:%Y-%m-%d}-{_machine_slug(facts)}{tag}.json"
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    payload = {"time_utc": f"{now:%Y-%m-%dT%H:%M:%SZ}", "command": command,
               "quick": args.quick, "suites": names, "failed": failed, "machine": facts, "rows": all_rows}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    tmp.replace(path)
    print(f"results written to {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
