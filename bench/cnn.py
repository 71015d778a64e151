"""CNN train step, 28x28x1, batch 64 (Conv-Pool-Conv-Pool-Dense-Dense, Adam): tapeflow vs PyTorch eager.

The issue's model: Conv2D(32, 3, relu) -> MaxPool 2 -> Conv2D(64, 3, relu) -> MaxPool 2 -> Flatten ->
Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam, one full training step (forward, backward,
update) per call. tapeflow runs channels_last (Keras's default) with its own layers and optimizer; PyTorch
runs its eager NCHW modules. Each implementation runs in fresh subprocesses, alternating, for several
rounds; the figure is the median samples/s. Target: tapeflow >= 1.0x PyTorch eager in the same run."""

from __future__ import annotations

import importlib.util

import bench

BATCH = 64

_TAPEFLOW = """
import json
import numpy as np
import tapeflow as tp
from bench import per_call
L = tp.layers
tp.random.set_seed(0)
layers = [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Conv2D(64, 3, activation="relu"),
          L.MaxPooling2D(2), L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10)]
rng = np.random.default_rng(0)
x = tp.constant(rng.random((64, 28, 28, 1), dtype=np.float32))
labels = tp.one_hot(rng.integers(0, 10, 64), 10)
def forward(h):
    for layer in layers:
        h = layer(h)
    return h
forward(x)
weights = [w for layer in layers for w in layer.trainable_weights]
opt = tp.optimizers.Adam(1e-3)
def step():
    with tp.GradientTape() as tape:
        loss = tp.mean(-tp.sum(labels * tp.log_softmax(forward(x)), axis=-1))
    opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
for _ in range(3):
    step()
print(json.dumps(64 / per_call(step, repeat={repeat})))
"""

_TORCH = """
import json
import torch
from bench import per_call
torch.manual_seed(0)
nn = torch.nn
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.rand(64, 1, 28, 28)
y = torch.randint(0, 10, (64,))
def step():
    opt.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
for _ in range(3):
    step()
print(json.dumps(64 / per_call(step, repeat={repeat})))
"""


def run(quick=False):
    """CNN training step on 28x28x1, batch 64, Adam: samples/s, tapeflow vs PyTorch eager (target >= 1.0x)."""
    repeat = 3 if quick else 7
    code = {"tapeflow": _TAPEFLOW.format(repeat=repeat)}
    if importlib.util.find_spec("torch") is not None:
        code["torch"] = _TORCH.format(repeat=repeat)
    values = bench.alternate(code, rounds=1 if quick else 3)
    return bench.rows("CNN 28x28x1 train step, batch 64, Adam", values, unit="samples/s",
                      reference="torch" if "torch" in values else None, target=1.0, lower_is_better=False)
