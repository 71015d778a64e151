"""A results file as the Markdown table the docs quote: ``python -m bench._report bench/results/FILE.json``.

One line per workload and mode: each contender's median and the range of its rounds, tapeflow's speed-up
against the reference, the target and whether it was met, and (training suites) CPU milliseconds per step.
Losing rows are printed like winning ones.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def _num(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def _cell(row):
    rounds = row.get("rounds") or []
    span = f" ({_num(min(rounds))}-{_num(max(rounds))})" if len(rounds) > 1 else ""
    cpu = row.get("cpu_ms_per_step")
    return _num(row["value"]) + span + (f", {cpu:.1f} CPU ms" if cpu is not None else "")


def table(payload):
    """Markdown lines for a results payload (``bench/run.py``'s JSON)."""
    groups = defaultdict(dict)
    for row in payload["rows"]:
        groups[row["workload"]][row["impl"]] = row
    impls = list(dict.fromkeys(r["impl"] for r in payload["rows"]))
    lines = ["| workload [mode] | " + " | ".join(impls) + " | tapeflow speed-up | target met |",
             "| --- |" + " --- |" * (len(impls) + 2)]
    for workload, by_impl in groups.items():
        tf = by_impl.get("tapeflow", {})
        speed = tf.get("speedup_vs_reference")
        if speed is None and tf.get("ratio_vs_reference"):
            speed = 1 / tf["ratio_vs_reference"]  # the ratio is < 1 when tapeflow is faster, in both units
        extra = f"{speed:.2f}x vs {tf.get('reference')}" if speed else "-"
        if tf.get("speedup_vs_torch") is not None:
            extra += f", {tf['speedup_vs_torch']:.2f}x vs torch"
        if tf.get("blas_limit_fraction") is not None:
            extra += f"; {100 * tf['blas_limit_fraction']:.0f}% of BLAS limit"
        met = {True: "yes", False: "**no**", None: "-"}[tf.get("meets_target")]
        cells = [_cell(by_impl[i]) if i in by_impl else "-" for i in impls]
        lines.append(f"| {workload} | " + " | ".join(cells) + f" | {extra} | {met} |")
    return lines


def main(argv=None):
    for path in (sys.argv[1:] if argv is None else argv):
        payload = json.loads(open(path).read())
        m = payload["machine"]
        print(f"{path}: `{payload.get('command')}`, {payload['time_utc']}, {m['cpu_model']}, "
              f"{m['usable_cpus']} CPUs, load {m['load_average_1_5_15']} -> {m.get('load_average_after')}")
        print("\n".join(table(payload)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
