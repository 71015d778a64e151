"""CNN train step, 28x28x1, batch 64 (Conv-Pool-Conv-Pool-Dense-Dense, Adam): tapeflow vs PyTorch eager.

The issue's model: Conv2D(32, 3, relu) -> MaxPool 2 -> Conv2D(64, 3, relu) -> MaxPool 2 -> Flatten ->
Dense(128, relu) -> Dense(10), softmax cross-entropy, Adam, one full training step (forward, backward,
update) per call: ``Sequential.train_on_batch`` in tapeflow (channels_last, Keras's default), the usual
eager loop over ``nn.Sequential`` (NCHW) in PyTorch. Target: tapeflow >= 1.0x PyTorch eager in the same run
(see ``bench/_training.py`` for how the two are run and compared)."""

from __future__ import annotations

from bench._training import compare

_TAPEFLOW = """
model = tp.Sequential([L.Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                       L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                       L.Dense(128, activation="relu"), L.Dense(10)])
model.compile(optimizer=tp.optimizers.Adam(1e-3),
              loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
x = rng.random((64, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, 64)
"""

_TORCH = """
model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                      nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.rand(64, 1, 28, 28)
y = torch.randint(0, 10, (64,))
"""


def run(quick=False):
    """CNN training step on 28x28x1, batch 64, Adam: samples/s, tapeflow vs PyTorch eager (target >= 1.0x)."""
    return compare("CNN 28x28x1 train step, batch 64, Adam", _TAPEFLOW, _TORCH,
                   "nn.functional.cross_entropy(model(x), y)", batch=64, quick=quick)
