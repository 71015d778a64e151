"""CNN training step, 28x28x1, batch 64 and 256 (Conv-Pool-Conv-Pool-Dense-Dense, Adam): tapeflow vs PyTorch.

The conv issue's model: Conv2D(32, 3, relu) -> MaxPool 2 -> Conv2D(64, 3, relu) -> MaxPool 2 -> Flatten ->
Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam, one full training step (forward, backward,
update) per call: ``Sequential.train_on_batch`` in tapeflow (channels_last, Keras's default), the usual
eager loop over ``nn.Sequential`` (NCHW) in PyTorch. Target: tapeflow >= 1.2x PyTorch eager in the same
process. Each tapeflow row also gives the fraction of the BLAS limit it reached: the step's matrix-product
FLOPs per second over the same process's large-sgemm rate (see ``bench/_training.py`` for the modes)."""

from __future__ import annotations

import bench
from bench._training import compare, workload

_TAPEFLOW = """
model = tp.Sequential([L.Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                       L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                       L.Dense(128, activation="relu"), L.Dense(10)])
model.compile(optimizer=tp.optimizers.Adam(1e-3),
              loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
x = rng.random((batch, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, batch)
"""

_TORCH = """
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.rand(batch, 1, 28, 28)
y = torch.randint(0, 10, (batch,))
"""

# matrix-product FLOPs of one sample's training step: forward and kernel gradient of every layer, the input
# gradient of all but the first (2 * m * k * n per product)
_CONV1 = 2 * 26 * 26 * 32 * 9
_CONV2 = 2 * 11 * 11 * 64 * (9 * 32)
_DENSE = 2 * 1600 * 128 + 2 * 128 * 10
FLOPS_PER_SAMPLE = 2 * _CONV1 + 3 * _CONV2 + 3 * _DENSE

for _batch in (64, 256):
    workload(f"cnn{_batch}", _batch, _TAPEFLOW, _TORCH, "nn.functional.cross_entropy(model(x), y)",
             FLOPS_PER_SAMPLE)


def run(quick=False):
    """CNN training step on 28x28x1 at batch 64 and 256, Adam: samples/s vs PyTorch eager (target >= 1.2x)."""
    return [row for b in (64, 256) if bench.chosen(f"cnn{b}")
            for row in compare("cnn", f"cnn{b}", f"CNN 28x28x1 train step, batch {b}", quick=quick)]
