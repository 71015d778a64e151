"""tp.function: training steps compiled into a plan vs the same steps run eagerly (and vs hand-written NumPy).

Workloads (issue 14), each timed in one process with ``bench.interleaved`` (batches alternate between the
implementations, so both sides of a ratio see the same load), in fresh processes for several rounds:

* MLP 784-512-256-10, Adam 1e-3, softmax cross-entropy, batch 32 and 128: the ``@tp.function`` custom
  training step ("tapeflow"), the same step eagerly ("tapeflow-eager"), and the hand-written NumPy step of
  ``bench/training.py`` with Adam updated in place ("numpy-inplace", the reference). Targets: compiled >= 1.6x
  the NumPy step at batch 32 (ratio of times <= 0.625) and >= 1.3x at 128 (<= 0.77).
* A chain of 100 ``y = y*0.5 + 1`` on 4x4 with ``sum`` and the gradient: compiled >= 5x eager (<= 0.2).
* A CNN step (Conv2D 16 3x3, max pooling, Dense, batch 32 of 28x28) and an LSTM step (64 units, 20 steps of
  32 features, batch 32): compiled >= 1.1x eager (<= 0.91).
"""

from __future__ import annotations

import bench

_CODE = """
import json
import numpy as np
import tapeflow as tp
from bench import interleaved
from bench.training import _MLP
QUICK = {quick}
REPEAT = 3 if QUICK else 7
rng = np.random.default_rng(0)
R = {{}}

def keras_step(model, optimizer):
    loss_fn = tp.losses.SparseCategoricalCrossentropy(from_logits=True)
    def step(x, y):
        with tp.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss
    return step

def compiled_and_eager(build, x, y):
    tp.random.set_seed(0)
    eager = keras_step(build(), tp.optimizers.Adam(1e-3))
    tp.random.set_seed(0)
    compiled = tp.function(keras_step(build(), tp.optimizers.Adam(1e-3)))
    compiled(x, y)  # trace
    return {{"tapeflow": lambda: compiled(x, y), "tapeflow-eager": lambda: eager(x, y)}}

def mlp():
    return tp.Sequential([tp.Input(shape=(784,)), tp.layers.Dense(512, activation="relu"),
                          tp.layers.Dense(256, activation="relu"), tp.layers.Dense(10)])

X = rng.random((128, 784), dtype=np.float32)
Y = rng.integers(0, 10, 128)
for b in (32, 128):
    x, y = X[:b], Y[:b]
    fns = compiled_and_eager(mlp, x, y)
    reference = _MLP(inplace=True)  # bench/training.py's hand-written step, Adam updated in place
    fns["numpy-inplace"] = lambda: reference.step(x, y)
    R[f"mlp{{b}}"] = interleaved(fns, repeat=REPEAT)

v = tp.Variable(rng.standard_normal((4, 4)).astype(np.float32))
def chain():
    with tp.GradientTape() as tape:
        y = v
        for _ in range(100):
            y = y * 0.5 + 1
        s = tp.sum(y)
    return s, tape.gradient(s, v)
compiled_chain = tp.function(chain)
compiled_chain()
R["chain"] = interleaved({{"tapeflow": compiled_chain, "tapeflow-eager": chain}}, repeat=REPEAT)

def cnn():
    return tp.Sequential([tp.Input(shape=(28, 28, 1)), tp.layers.Conv2D(16, 3, activation="relu"),
                          tp.layers.MaxPooling2D(2), tp.layers.Flatten(), tp.layers.Dense(10)])
xc = rng.random((32, 28, 28, 1), dtype=np.float32)
R["cnn"] = interleaved(compiled_and_eager(cnn, xc, Y[:32]), repeat=REPEAT)

def lstm():
    return tp.Sequential([tp.Input(shape=(20, 32)), tp.layers.LSTM(64), tp.layers.Dense(10)])
xl = rng.standard_normal((32, 20, 32)).astype(np.float32)
R["lstm"] = interleaved(compiled_and_eager(lstm, xl, Y[:32]), repeat=REPEAT)
print(json.dumps(R))
"""

# workload key -> (description, reference, target ratio of times)
WORKLOADS = {
    "mlp32": ("MLP 784-512-256-10 Adam step, batch 32", "numpy-inplace", 1 / 1.6),
    "mlp128": ("MLP 784-512-256-10 Adam step, batch 128", "numpy-inplace", 1 / 1.3),
    "chain": ("chain of 100 y*0.5+1, 4x4, fwd+bwd", "tapeflow-eager", 1 / 5),
    "cnn": ("CNN step (Conv2D 16, pool, Dense), batch 32", "tapeflow-eager", 1 / 1.1),
    "lstm": ("LSTM(64) step, 20x32, batch 32", "tapeflow-eager", 1 / 1.1),
}


def run(quick=False, rounds=None):
    """Time compiled and eager steps (and the NumPy reference); one row per (workload, implementation).

    Args:
        quick: one round of fewer batches (a smoke run).
        rounds: fresh processes to take the median over (default 1 quick, else ``--rounds`` or 3).

    Returns:
        Rows ``{workload, impl, value, unit, reference, ratio_vs_reference, target, meets_target, rounds}``;
        values are microseconds per step (medians; ``rounds`` has every process's).
    """
    if quick:  # a smoke run: every workload once, no figures
        bench.run_snippet(_CODE.format(quick=True))
        return [{"workload": label, "impl": impl, "value": None, "unit": "us", "mode": "quick (one call)"}
                for label, _, _ in WORKLOADS.values() for impl in ("tapeflow", "tapeflow-eager")]
    measured = bench.alternate({"tapeflow": _CODE.format(quick=quick)}, rounds=rounds or bench.ROUNDS or 3)
    out = []
    for key, (label, reference, target) in WORKLOADS.items():
        values = {impl: seconds * 1e6 for impl, seconds in measured["tapeflow"][key].items()}
        rows = bench.rows(label, values, unit="us", reference=reference, target=target)
        for row in rows:  # every process's figure, so the whole range can be quoted
            row["rounds"] = [r[key][row["impl"]] * 1e6 for r in measured["_all"]["tapeflow"]]
        out.extend(rows)
    return out
