"""``model.fit`` under ``DataParallel`` matches one process training on the whole global batch.

Every rank also trains the one-process reference itself (no strategy, same initial weights, same shuffling
seed), so no second job is needed. Weights are float64 so the comparison can be tight. Collectives (in the
per-step callback and in ``fit``) run on every rank before any assertion.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

D = 5
F64 = "float64"  # Sequential's dtype does not reach its layers (as in Keras): each layer gets it


def _data(n, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    y = np.sin(x @ rng.normal(size=(D, 1)))
    return x, y


def _layers():
    return [tp.Input(shape=(D,)), tp.layers.Dense(6, activation="tanh", dtype=F64),
            tp.layers.Dense(1, dtype=F64)]


def _model():
    return tp.Sequential(_layers(), dtype=F64)  # fit casts data to the model's dtype


OPTIMIZERS = {
    "sgd": lambda: tp.optimizers.SGD(0.1, momentum=0.5),
    "adam": lambda: tp.optimizers.Adam(0.01),
}


class SameOnAllRanks(tp.callbacks.Callback):
    """After every step: are the trainable weights bit-identical on every rank? (one collective per step)"""

    def __init__(self, comm):
        super().__init__()
        self.comm, self.same = comm, []

    def on_train_batch_end(self, batch, logs=None):
        flat = np.concatenate([v.numpy().ravel() for v in self.model.trainable_weights])
        low, high = self.comm.allreduce_min_max(flat)
        self.same.append(bool(np.array_equal(low, high)))


def _fit_both(strategy, optimizer, n, batch, epochs=3, shuffle=True, **fit_kwargs):
    """Train with the strategy and, on every rank, the one-process reference; returns both models and logs."""
    x, y = _data(n)
    with strategy.scope():
        model = _model()
        model.compile(optimizer=OPTIMIZERS[optimizer](), loss="mse", metrics=["mae"])
    start = [w.copy() for w in model.get_weights()]
    if strategy.rank != 0:  # rank 0's initial weights must win
        model.set_weights([w + strategy.rank for w in start])
    check = SameOnAllRanks(strategy.comm)
    tp.random.set_seed(123)
    hist = model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=shuffle, verbose=0, callbacks=[check],
                     **fit_kwargs)

    ref = _model()
    ref.compile(optimizer=OPTIMIZERS[optimizer](), loss="mse", metrics=["mae"])
    ref.set_weights(start)
    tp.random.set_seed(123)
    ref_hist = ref.fit(x, y, batch_size=batch, epochs=epochs, shuffle=shuffle, verbose=0, **fit_kwargs)
    return model, hist, ref, ref_hist, check


def _pair(strategy, layers, **compile_kwargs):
    """The same model twice, from ``layers()``: compiled in the strategy's scope, and a one-process reference
    with the same initial weights."""
    fresh = lambda: {k: (v() if callable(v) and k == "metrics" else v) for k, v in compile_kwargs.items()}
    with strategy.scope():
        model = tp.Sequential(layers(), dtype=F64)
        model.compile(**fresh())
    ref = tp.Sequential(layers(), dtype=F64)
    ref.compile(**fresh())
    ref.set_weights(model.get_weights())
    return model, ref


def _assert_same_training(model, ref, hist, ref_hist, keys=None):
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert sorted(hist.history) == sorted(ref_hist.history)
    for key in keys or ref_hist.history:
        np.testing.assert_allclose(hist.history[key], ref_hist.history[key], rtol=1e-9, atol=1e-12,
                                   err_msg=key)


# 40 samples in batches of 8 split evenly; 37 leave a last batch of 5 (3 + 2 on two ranks); 33 leave a last
# batch of 1, so on two ranks one rank has no sample in that step.
@pytest.mark.parametrize("n", [40, 37, 33])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_matches_one_process_with_the_global_batch(strategy, optimizer, n):
    model, hist, ref, ref_hist, check = _fit_both(strategy, optimizer, n, batch=8)
    steps = 3 * -(-n // 8)
    assert check.same == [True] * steps, "ranks held different weights after some step"
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert model.optimizer.iterations == ref.optimizer.iterations == steps
    for key in ("loss", "mae"):  # logged metrics are global: the same as one process's
        np.testing.assert_allclose(hist.history[key], ref_hist.history[key], rtol=1e-9)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(model.get_weights(), _model().get_weights()))
    assert moved > 1e-3  # the comparison above is not between two untrained models


def test_global_batch_smaller_than_the_world(strategy):
    """batch_size=1: on two ranks, one rank has no sample in every step, and still no rank waits forever."""
    val = _data(3, seed=9)
    model, hist, ref, ref_hist, check = _fit_both(strategy, "adam", 6, batch=1, epochs=2, validation_data=val,
                                                  validation_batch_size=1)
    assert all(check.same) and len(check.same) == 12
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    for key in ("loss", "mae", "val_loss", "val_mae"):
        np.testing.assert_allclose(hist.history[key], ref_hist.history[key], rtol=1e-9)


def test_steps_per_epoch_and_validation(strategy):
    """Batches continuing across epochs (steps_per_epoch) and validation give one process's numbers."""
    xv, yv = _data(9, seed=5)
    model, hist, ref, ref_hist, check = _fit_both(
        strategy, "sgd", 21, batch=4, epochs=3, steps_per_epoch=4, validation_data=(xv, yv)
    )
    assert all(check.same) and len(check.same) == 12
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    for key in ("loss", "val_loss", "val_mae"):
        np.testing.assert_allclose(hist.history[key], ref_hist.history[key], rtol=1e-9)


def test_classification_metrics_are_global(strategy):
    """Accuracy and loss over ranks equal one process's (sums of correct counts, not local means)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(45, 4))
    y = (x[:, :1] + x[:, 1:2] > 0).astype(np.int64).ravel()
    layers = lambda: [tp.Input(shape=(4,)), tp.layers.Dense(2, dtype=F64)]
    model, ref = _pair(strategy, layers, optimizer="sgd",
                       loss=tp.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    h = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    r = ref.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    _assert_same_training(model, ref, h, r, keys=["loss", "accuracy"])


def test_batchnorm_statistics_agree_after_each_epoch(strategy):
    """Moving statistics (non-trainable) are averaged over ranks at each epoch's end."""
    x, y = _data(32)
    with strategy.scope():
        model = tp.Sequential(
            [tp.Input(shape=(D,)), tp.layers.Dense(4, dtype=F64), tp.layers.BatchNormalization(dtype=F64),
             tp.layers.Dense(1, dtype=F64)], dtype=F64
        )
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    flat = np.concatenate([v.numpy().ravel() for v in model.weights])
    low, high = strategy.comm.allreduce_min_max(flat)
    assert np.array_equal(low, high)
    assert model.non_trainable_weights  # the check covered moving statistics


def test_only_rank_0_prints_and_checkpoints(strategy, tmp_path, capsys):
    folder = strategy.broadcast_object(str(tmp_path))  # one folder for every rank, as on a shared disk
    x, y = _data(16)
    with strategy.scope():
        model = _model()
        model.compile(optimizer="sgd", loss="mse")
    saves = []
    model.save_weights = lambda path, _save=model.save_weights: (saves.append(path), _save(path))
    ckpt = tp.callbacks.ModelCheckpoint(folder + "/w-{epoch}.safetensors", save_weights_only=True,
                                        monitor="loss")
    csv = tp.callbacks.CSVLogger(folder + f"/log-rank{strategy.rank}.csv")
    model.fit(x, y, batch_size=4, epochs=2, verbose=2, callbacks=[ckpt, csv])
    printed = capsys.readouterr().out
    others = strategy.rank != 0
    counts = strategy.all_reduce(np.array([len(saves) * others, len(printed) * others]), op="sum")
    assert counts.numpy().tolist() == [0, 0], "a rank other than 0 wrote a checkpoint or printed"
    if strategy.is_chief:
        assert len(saves) == 2 and "Epoch 2/2" in printed
        import os

        assert sorted(os.listdir(folder)) == ["log-rank0.csv", "w-1.safetensors", "w-2.safetensors"]


def test_a_metric_without_state_names_is_refused(strategy):
    class Peak(tp.metrics.Metric):
        def reset_state(self):
            self.peak = 0.0

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.peak = max(self.peak, float(np.max(y_pred)))

        def _value(self):
            return self.peak

    x, y = _data(8)
    with strategy.scope():
        model = _model()
        model.compile(optimizer="sgd", loss="mse", metrics=[Peak()])
    with pytest.raises(TypeError, match="_state_names"):
        model.fit(x, y, batch_size=4, verbose=0)


def test_custom_metric_with_state_names_is_summed(strategy):
    class SquaredSum(tp.metrics.Metric):
        _state_names = ("total",)

        def reset_state(self):
            self.total = 0.0

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total += float(np.sum(np.square(np.asarray(y_true))))

        def _value(self):
            return self.total

    x, y = _data(10)
    with strategy.scope():
        model = _model()
        model.compile(optimizer="sgd", loss="mse", metrics=[SquaredSum(name="ysq")])
    hist = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_allclose(hist.history["ysq"], [float(np.sum(y**2))], rtol=1e-9)


def test_model_compiled_outside_a_scope_trains_alone(strategy):
    x, y = _data(8)
    model = _model()
    model.compile(optimizer="sgd", loss="mse")
    assert model.training_hooks is None
    model.fit(x, y, batch_size=4, verbose=0)  # no collective: ranks may even differ here


def test_backup_and_restore_resumes_on_every_rank(strategy, tmp_path):
    """Every rank restores (and so resumes at the same epoch); only rank 0 writes the backup."""
    folder = strategy.broadcast_object(str(tmp_path / "backup"))
    x, y = _data(16)
    with strategy.scope():
        model = _model()
        model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, verbose=0,
              callbacks=[tp.callbacks.BackupAndRestore(folder, delete_checkpoint=False)])
    after_two = model.optimizer.iterations
    strategy.barrier()  # rank 0 has written epoch 2's backup
    with strategy.scope():
        resumed = _model()
        resumed.compile(optimizer="adam", loss="mse")
    hist = resumed.fit(x, y, batch_size=4, epochs=3, verbose=0,
                       callbacks=[tp.callbacks.BackupAndRestore(folder)])
    flat = np.concatenate([v.numpy().ravel() for v in resumed.weights])
    low, high = strategy.comm.allreduce_min_max(flat)
    assert np.array_equal(low, high)
    assert after_two == 8 and resumed.optimizer.iterations == 12  # resumed at epoch 2: one more epoch
    assert hist.epoch == [0, 1, 2]


def _dataset(x, y, seed):
    return tp.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed).batch(8)


def test_dataset_input_matches_one_process(strategy):
    """A tp.data.Dataset seeded alike on every rank: each rank shards the dataset's batches."""
    x, y = _data(30)
    model, ref = _pair(strategy, _layers, optimizer="adam", loss="mse")
    hist = model.fit(_dataset(x, y, seed=7), epochs=2, verbose=0)
    ref_hist = ref.fit(_dataset(x, y, seed=7), epochs=2, verbose=0)
    _assert_same_training(model, ref, hist, ref_hist)


@pytest.mark.multi_rank
def test_ranks_reading_different_batches_is_an_error(strategy):
    """Datasets shuffled with different seeds on different ranks: every rank stops with the reason."""
    x, y = _data(30)
    with strategy.scope():
        model = _model()
        model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="ranks read different batches at step 0"):
        model.fit(_dataset(x, y, seed=strategy.rank), epochs=1, verbose=0)


@pytest.mark.multi_rank
def test_ranks_running_out_at_different_steps_is_an_error(strategy):
    x, y = _data(32)
    n = 24 if strategy.rank == 0 else 32  # the same first 3 batches everywhere; rank 0 then has no 4th
    x, y = x[:n], y[:n]
    with strategy.scope():
        model = _model()
        model.compile(optimizer="sgd", loss="mse")
    data = tp.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with pytest.raises(ValueError, match="ran out at different steps"):
        model.fit(data, epochs=1, verbose=0)


def test_every_builtin_metric_kind_is_global(strategy):
    """Confusion counts (Precision, Recall), AUC's histograms and R2's sums give one process's values."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(37, D))
    y = (x[:, :1] - x[:, 1:2] > 0).astype(np.float64)
    model, ref = _pair(
        strategy, lambda: [tp.Input(shape=(D,)), tp.layers.Dense(1, activation="sigmoid", dtype=F64)],
        optimizer="sgd", loss="binary_crossentropy",
        metrics=lambda: [tp.metrics.Precision(), tp.metrics.Recall(), tp.metrics.AUC(), tp.metrics.R2Score(),
                         "binary_accuracy", "mse"],
    )
    h = model.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, validation_data=(x[:11], y[:11]))
    r = ref.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0, validation_data=(x[:11], y[:11]))
    assert len(h.history) == 14
    _assert_same_training(model, ref, h, r)


def test_frozen_weights_stay_exactly_as_they_were(strategy):
    """Averaging non-trainable variables at epoch end must not move a frozen layer by a rounding step."""
    x, y = _data(16)
    with strategy.scope():
        model = _model()
        model.layers[0].trainable = False
        model.compile(optimizer="sgd", loss="mse")
    frozen = [v.numpy().copy() for v in model.non_trainable_weights]
    model.fit(x, y, batch_size=4, epochs=3, verbose=0)
    assert len(frozen) == 2
    for before, v in zip(frozen, model.non_trainable_weights):
        np.testing.assert_array_equal(v.numpy(), before)


def test_sample_weights_match_one_process(strategy):
    """Weighted losses: each rank's share of the mean still combines to the one-process gradient."""
    sw = np.random.default_rng(5).uniform(0.1, 3.0, size=27)
    model, hist, ref, ref_hist, check = _fit_both(strategy, "adam", 27, batch=8, sample_weight=sw)
    assert all(check.same)
    for got, want in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hist.history["loss"], ref_hist.history["loss"], rtol=1e-9)


def test_regularized_model_matches_one_process(strategy):
    """A penalty added once per rank still gives the one-process loss and gradient (weights sum to 1)."""
    x, y = _data(19)
    layers = lambda: [tp.Input(shape=(D,)),
                      tp.layers.Dense(3, kernel_regularizer=tp.regularizers.L2(0.1), dtype=F64),
                      tp.layers.Dense(1, dtype=F64)]
    model, ref = _pair(strategy, layers, optimizer="sgd", loss="mse")
    h = model.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    r = ref.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    _assert_same_training(model, ref, h, r)
