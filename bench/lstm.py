"""LSTM(64) and GRU(64) over 50 timesteps x 8 features, batch 64 and 256, Dense(1), MSE, Adam: tapeflow vs
PyTorch eager.

One full training step per call (``Sequential.train_on_batch`` in tapeflow). tapeflow's layers project all
timesteps' inputs with one matrix product and run the recurrence in a fused whole-sequence op (C kernels that
split the batch across threads, each running every timestep of its rows, hand-written backward through time);
PyTorch runs ``nn.LSTM`` / ``nn.GRU`` (its fused CPU kernels). Target: tapeflow >= 1.2x PyTorch eager (see
``bench/_training.py`` for the modes)."""

from __future__ import annotations

import bench
from bench._training import compare, workload

_TAPEFLOW = """
model = tp.Sequential([L.Input(shape=(50, 8)), L.{cell}(64), L.Dense(1)])
model.compile(optimizer=tp.optimizers.Adam(1e-3), loss="mse")
x = rng.random((batch, 50, 8), dtype=np.float32)
y = rng.random((batch, 1), dtype=np.float32)
"""

_TORCH = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.{cell}(8, 64, batch_first=True)
        self.dense = nn.Linear(64, 1)
    def forward(self, x):
        out, _ = self.rnn(x)
        return self.dense(out[:, -1])
model = Net()
opt = torch.optim.Adam(model.parameters(), 1e-3)
x, y = torch.rand(batch, 50, 8), torch.rand(batch, 1)
"""

CASES = [(cell, b) for cell in ("LSTM", "GRU") for b in (64, 256)]
for _cell, _batch in CASES:
    workload(f"{_cell.lower()}{_batch}", _batch, _TAPEFLOW.format(cell=_cell), _TORCH.format(cell=_cell),
             "((model(x) - y) ** 2).mean()")


def run(quick=False):
    """LSTM(64) and GRU(64), 50 steps x 8 features, batch 64 and 256, Adam: samples/s vs PyTorch eager."""
    return [row for cell, b in CASES if bench.chosen(f"{cell.lower()}{b}")
            for row in compare("lstm", f"{cell.lower()}{b}", f"{cell}(64) 50x8 train step, batch {b}",
                               quick=quick)]
