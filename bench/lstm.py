"""LSTM(64) over 50 timesteps x 8 features, batch 64, Dense(1), MSE, Adam: tapeflow vs PyTorch eager.

One full training step per call (``Sequential.train_on_batch`` in tapeflow). tapeflow's LSTM projects all
timesteps' inputs with one matrix product and runs the recurrence in a fused whole-sequence op (one ``h @ U``
per step for all four gates, hand-written backward through time); PyTorch runs ``nn.LSTM`` (its fused CPU
kernel). Target: tapeflow >= 1.0x PyTorch eager in the same run (see ``bench/_training.py``).
"""

from __future__ import annotations

from bench._training import compare

_TAPEFLOW = """
model = tp.Sequential([L.Input(shape=(50, 8)), L.LSTM(64), L.Dense(1)])
model.compile(optimizer=tp.optimizers.Adam(1e-3), loss="mse")
x = rng.random((64, 50, 8), dtype=np.float32)
y = rng.random((64, 1), dtype=np.float32)
"""

_TORCH = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(8, 64, batch_first=True)
        self.dense = nn.Linear(64, 1)
    def forward(self, x):
        out, _ = self.lstm(x)
        return self.dense(out[:, -1])
model = Net()
opt = torch.optim.Adam(model.parameters(), 1e-3)
x, y = torch.rand(64, 50, 8), torch.rand(64, 1)
"""


def run(quick=False):
    """LSTM(64), 50 steps x 8 features, batch 64, Adam: samples/s, tapeflow vs PyTorch eager (>= 1.0x)."""
    return compare("LSTM(64) 50x8 train step, batch 64, Adam", _TAPEFLOW, _TORCH,
                   "((model(x) - y) ** 2).mean()", batch=64, quick=quick)
