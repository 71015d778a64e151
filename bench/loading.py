"""Loading saved files: peak memory per weight byte of valid files, and what hostile files cost.

Each figure comes from a fresh process: peak memory is the growth of the resident set's high-water mark
(VmHWM, reset through /proc/self/clear_refs) during the load alone, so Linux only. The guarantees in
docs/saving.md quote this suite: ``python -m bench loading``.
"""

from __future__ import annotations

import sys

import bench

PRELUDE = """
import json, os, tempfile, time
import numpy as np, tapeflow as tp
from tapeflow.saving import archive

def status(key):
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key + ":"))

def measure(fn):
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base, start = status("VmRSS"), time.perf_counter()
    try:
        fn()
        outcome = "loaded"
    except tp.saving.FileFormatError:
        outcome = "refused"
    return {"seconds": time.perf_counter() - start, "growth": status("VmHWM") - base, "outcome": outcome}

folder = tempfile.mkdtemp()
"""

VALID = PRELUDE + """
side = SIDE
model = tp.Sequential([tp.Input(shape=(side,)), tp.layers.Dense(side)])
model.compile(optimizer="adam", loss="mse")
model.save(os.path.join(folder, "m.tapeflow"), include_optimizer=False)
model.save_weights(os.path.join(folder, "w.safetensors"))
weights = sum(w.nbytes for w in model.get_weights())
del model
out = {"weights": weights}
out["load_model"] = measure(lambda: tp.models.load_model(os.path.join(folder, "m.tapeflow")))
target = tp.Sequential([tp.Input(shape=(side,)), tp.layers.Dense(side)])
out["load_weights"] = measure(lambda: target.load_weights(os.path.join(folder, "w.safetensors")))
print(json.dumps(out))
"""

HOSTILE = PRELUDE + """
def edited(model, edit):
    model.save(os.path.join(folder, "good.tapeflow"))
    members = archive.read_archive(os.path.join(folder, "good.tapeflow"))
    members["metadata.json"] = archive.dumps_json(members["metadata.json"])
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    path = os.path.join(folder, "evil.tapeflow")
    archive.write_archive(path, members)
    return path

def set_input(c, shape):
    c["model"]["config"]["build_input_shape"] = c["build_input_shape"] = [None, *shape]

def first(c):
    return c["model"]["config"]["layers"][0]["config"]

out = {}
path = edited(tp.Sequential([tp.Input(shape=(8,)), tp.layers.RepeatVector(8)]),
              lambda c: (first(c).update(n=8192), set_input(c, [8192])))
out["RepeatVector(8192) on 8192 features"] = measure(lambda: tp.models.load_model(path))
path = edited(tp.Sequential([tp.Input(shape=(8, 8, 1)), tp.layers.Conv2D(16, 3)]),
              lambda c: set_input(c, [4096, 4096, 1]))
out["Conv2D(16) on a 4096x4096 image"] = measure(lambda: tp.models.load_model(path))
os.mkfifo(os.path.join(folder, "fifo.safetensors"))
fifo = os.path.join(folder, "fifo.safetensors")
out["a FIFO named w.safetensors"] = measure(lambda: tp.saving.load_arrays(fifo))
x = inputs = tp.Input(shape=(4,))
for i in range(LAYERS):
    x = tp.layers.Dense(4)(x) if i % 50 == 0 else tp.layers.Activation("relu")(x)
config = tp.Model(inputs, x).get_config()
for order in ("in order", "reversed"):
    name = f"functional config of {len(config['layers'])} layers, {order}"
    out[name] = measure(lambda: tp.Model.from_config(config))
    config["layers"] = config["layers"][::-1]
print(json.dumps(out))
"""


def run(quick=False):
    if not sys.platform.startswith("linux"):
        return []
    rows = []
    side = 2048 if quick else 4096  # 16 or 64 MiB of weights
    valid = bench.run_snippet(VALID.replace("SIDE", str(side)))
    mib = valid["weights"] / 2**20
    for how in ("load_model", "load_weights"):
        r = valid[how]
        rows += bench.rows(f"{how}, {mib:.0f} MiB of weights: peak growth / weight bytes",
                           {"tapeflow": r["growth"] / valid["weights"]}, unit="x")
        rows += bench.rows(f"{how}, {mib:.0f} MiB of weights: time", {"tapeflow": r["seconds"] * 1e3},
                           unit="ms")
    hostile = bench.run_snippet(HOSTILE.replace("LAYERS", str(1000 if quick else 6000)))
    for name, r in hostile.items():
        rows += bench.rows(f"{name}: {r['outcome']}, peak growth", {"tapeflow": r["growth"] / 2**20},
                           unit="MiB")
        rows += bench.rows(f"{name}: {r['outcome']}, time", {"tapeflow": r["seconds"] * 1e3}, unit="ms")
    return rows
