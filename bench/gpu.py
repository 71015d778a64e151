"""GPU (CuPy backend) training and inference, samples/s vs PyTorch eager CUDA in one process (no GPU: none).

Workloads (issue 12): MLP 784-512-256-10 with Adam at batch 128 and 1024; the conv issue's CNN (28x28x1,
Conv(32)-Pool-Conv(64)-Pool-Dense(128)-Dense(10), Adam) at batch 256; LSTM(128) over 100 steps x 32 features
at batch 256 (Dense(10) on the last state, Adam); inference of the MLP at batch 8192. One training step per
call (tapeflow ``train_step`` with the batch already on the device; PyTorch the usual eager loop), float32,
TF32 off for both (``torch.backends.*.allow_tf32 = False``; CuPy uses TF32 only with ``CUPY_TF32=1``, which
this suite clears). Each figure is the median of ``repeat`` timed batches of steps, each batch ending in a
device synchronize. Targets: tapeflow >= 1.0x PyTorch eager; the MLP at batch 1024 >= 20x tapeflow's own CPU
speed (the same step on the NumPy backend).
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

import bench

_MLP = "mlp"
_CNN = "cnn"
_LSTM = "lstm"


def _device():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        return cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    except Exception:  # no CuPy, no driver, no device
        return None


def _throughput(step, sync, batch, *, steps, repeat):
    for _ in range(3):
        step()
    sync()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) / steps)
    return batch / statistics.median(times)


def _data(kind, batch, rng):
    if kind == _MLP:
        return rng.random((batch, 784), dtype=np.float32), rng.integers(0, 10, batch)
    if kind == _CNN:
        return rng.random((batch, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, batch)
    return rng.random((batch, 100, 32), dtype=np.float32), rng.integers(0, 10, batch)


def _tapeflow_model(kind):
    import tapeflow as tp

    L = tp.layers
    if kind == _MLP:
        layers = [L.Input(shape=(784,)), L.Dense(512, activation="relu"), L.Dense(256, activation="relu"),
                  L.Dense(10)]
    elif kind == _CNN:
        layers = [L.Input(shape=(28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                  L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                  L.Dense(128, activation="relu"), L.Dense(10)]
    else:
        layers = [L.Input(shape=(100, 32)), L.LSTM(128), L.Dense(10)]
    model = tp.Sequential(layers)
    model.compile(optimizer=tp.optimizers.Adam(1e-3),
                  loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _tapeflow(kind, batch, backend, *, train=True, steps, repeat):
    import tapeflow as tp

    with tp.backend(backend):
        tp.random.set_seed(0)
        model = _tapeflow_model(kind)
        x, y = _data(kind, batch, np.random.default_rng(0))
        x, y = tp.constant(x), tp.constant(y)  # moved to the device once, as a prefetching pipeline does
        if backend == "cupy":
            import cupy

            sync = cupy.cuda.Device().synchronize
        else:
            sync = lambda: None  # noqa: E731
        if train:
            step = lambda: model.train_step((x, y))  # noqa: E731
        else:
            step = lambda: model(x, training=False)  # noqa: E731
        return _throughput(step, sync, batch, steps=steps, repeat=repeat)


def _torch(kind, batch, *, train=True, steps, repeat, device="cuda"):
    import torch
    from torch import nn

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = torch.device(device)
    torch.manual_seed(0)
    if kind == _MLP:
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                              nn.Linear(256, 10))
    elif kind == _CNN:
        model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3),
                              nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(),
                              nn.Linear(128, 10))
    else:
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTM(32, 128, batch_first=True)
                self.dense = nn.Linear(128, 10)

            def forward(self, x):
                return self.dense(self.lstm(x)[0][:, -1])

        model = Net()
    model = model.to(dev)
    x, y = _data(kind, batch, np.random.default_rng(0))
    x = torch.from_numpy(x).to(dev)
    if kind == _CNN:
        x = x.permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(y).to(dev)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    return _throughput(train_step if train else infer, sync, batch, steps=steps, repeat=repeat)


def run(quick=False):
    """GPU: MLP/CNN/LSTM training and MLP inference, samples/s, tapeflow (CuPy) vs PyTorch eager CUDA."""
    name = _device()
    if name is None:
        print("gpu: no CUDA device (or no CuPy): nothing measured")
        return []
    os.environ.pop("CUPY_TF32", None)
    steps, repeat = (5, 3) if quick else (20, 7)
    note = f"{name}, float32, TF32 off"
    try:
        import torch

        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    workloads = [
        ("MLP 784-512-256-10 train step, batch 128, Adam", _MLP, 128, True),
        ("MLP 784-512-256-10 train step, batch 1024, Adam", _MLP, 1024, True),
        ("CNN 28x28x1 train step, batch 256, Adam", _CNN, 256, True),
        ("LSTM(128) 100x32 train step, batch 256, Adam", _LSTM, 256, True),
        ("MLP 784-512-256-10 inference, batch 8192", _MLP, 8192, False),
    ]
    out = []
    for workload, kind, batch, train in workloads:
        values = {"tapeflow": _tapeflow(kind, batch, "cupy", train=train, steps=steps, repeat=repeat)}
        if has_torch:
            values["torch"] = _torch(kind, batch, train=train, steps=steps, repeat=repeat)
        out += bench.rows(workload, values, unit="samples/s", reference="torch" if has_torch else None,
                          target=1.0, lower_is_better=False, note=note)
    cpu = _tapeflow(_MLP, 1024, "numpy", steps=2 if quick else 5, repeat=3)
    gpu = next(r["value"] for r in out if r["impl"] == "tapeflow" and r["workload"] == workloads[1][0])
    out += bench.rows("MLP train step, batch 1024: GPU vs tapeflow's own CPU",
                      {"tapeflow": gpu, "tapeflow-cpu": cpu}, unit="samples/s", reference="tapeflow-cpu",
                      target=1 / 20, lower_is_better=False, note=note)
    return out
