"""The training-hook interface (tp.callbacks.TrainingHooks) and Callback.resume_epoch: objects written only
against the documented methods change how fit / evaluate / predict run."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp


def _data(n=16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x @ np.array([[1.0], [-2.0], [0.5]])).astype("float32")


def _model(**compile_kwargs):
    tp.random.set_seed(0)
    model = tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", **compile_kwargs)
    return model


class Recorder(tp.callbacks.TrainingHooks):
    """Records every call the loops make, in order; changes nothing."""

    def __init__(self):
        self.calls = []

    def begin(self, model, loop):
        self.calls.append(("begin", loop))
        return self

    def data(self, adapter):
        self.calls.append(("data", adapter.steps))
        return adapter

    def callbacks(self, callbacks, verbose):
        self.calls.append(("callbacks", verbose))
        return callbacks, verbose

    def run_batch(self, step, batch):
        self.calls.append(("run_batch", step.name))
        return step(batch)

    def reduce_gradients(self, grads):
        self.calls.append(("reduce_gradients", len(grads)))
        return grads

    def end_epoch(self, epoch):
        self.calls.append(("end_epoch", epoch))

    def end(self):
        self.calls.append(("end",))


def test_fit_evaluate_predict_call_the_hooks_in_the_documented_order():
    x, y = _data(16)
    hooks = Recorder()
    with hooks.scope():
        model = _model()
    assert model.training_hooks is hooks and _model().training_hooks is None
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:8], y[:8]), verbose=0)
    train = [("run_batch", "train_step"), ("reduce_gradients", 2)] * 2
    epoch = [*train, ("end_epoch", 0), ("run_batch", "test_step")]
    assert hooks.calls == [("begin", "fit"), ("data", 2), ("data", 1), ("callbacks", 0), *epoch,
                           *[c if c[0] != "end_epoch" else ("end_epoch", 1) for c in epoch], ("end",)]
    hooks.calls.clear()
    model.evaluate(x, y, batch_size=16, verbose=0)
    assert hooks.calls == [("begin", "evaluate"), ("data", 1), ("callbacks", 0), ("run_batch", "test_step"),
                           ("end",)]
    hooks.calls.clear()
    assert model.predict(x, batch_size=16, verbose=0).shape == (16, 1)
    assert hooks.calls == [("begin", "predict"), ("data", 1), ("callbacks", 0), ("run_batch", "predict_step"),
                           ("end",)]


def test_reduce_gradients_outside_a_loop_is_the_identity():
    model = _model()
    grads = [tp.constant([1.0])]
    assert model.reduce_gradients(grads) is grads


class EveryOtherBatch(tp.callbacks.TrainingHooks):
    """A toy 'strategy': each call gets its own hooks (per-call state), which read every other batch,
    zero the gradients of the first step, and keep the output quiet."""

    def begin(self, model, loop):
        return _EveryOtherBatchRun() if loop == "fit" else self


class _Halved:
    def __init__(self, adapter):
        self.adapter = adapter
        self.steps = (adapter.steps + 1) // 2
        self.batch_size = adapter.batch_size
        self.num_samples = adapter.num_samples

    def epoch(self):
        for i, batch in enumerate(self.adapter.epoch()):
            if i % 2 == 0:
                yield batch


class _EveryOtherBatchRun(tp.callbacks.TrainingHooks):
    def __init__(self):
        self.steps = 0

    def data(self, adapter):
        return _Halved(adapter)

    def callbacks(self, callbacks, verbose):
        return [c for c in callbacks if not isinstance(c, tp.callbacks.CSVLogger)], 0

    def reduce_gradients(self, grads):
        self.steps += 1
        return [tp.zeros_like(g) for g in grads] if self.steps == 1 else grads


def test_a_strategy_written_against_the_interface_changes_how_fit_runs(tmp_path, capsys):
    x, y = _data(32)
    with EveryOtherBatch().scope():
        model = _model()
    before = [w.numpy().copy() for w in model.weights]
    log = tmp_path / "log.csv"
    seen = []
    count = tp.callbacks.LambdaCallback(on_train_batch_end=lambda step, logs: seen.append(step))
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=1,
              callbacks=[tp.callbacks.CSVLogger(str(log)), count])
    assert seen == [0, 1]  # 2 of the 4 batches
    assert not log.exists() and capsys.readouterr().out == ""  # the hooks dropped the logger and the bar
    # the first step's gradients were zeroed: the weights equal one SGD step on batch 2 (rows 16:24) alone
    ref = _model()
    ref.set_weights(before)
    ref.train_on_batch(x[16:24], y[16:24])
    for w, r in zip(model.weights, ref.weights):
        np.testing.assert_allclose(w.numpy(), r.numpy(), rtol=1e-6)


class Failing(tp.callbacks.TrainingHooks):
    def __init__(self):
        self.ended = 0

    def run_batch(self, step, batch):
        raise RuntimeError("hook failed")

    def end(self):
        self.ended += 1


def test_end_is_called_when_the_loop_fails():
    x, y = _data(8)
    hooks = Failing()
    with hooks.scope():
        model = _model()
    with pytest.raises(RuntimeError, match="hook failed"):
        model.fit(x, y, verbose=0)
    assert hooks.ended == 1
    grads = [tp.constant([1.0])]
    assert model.reduce_gradients(grads) is grads  # the model no longer asks the failed run's hooks


class CountingReduce(tp.callbacks.TrainingHooks):
    def __init__(self):
        self.calls = 0

    def reduce_gradients(self, grads):
        self.calls += 1
        return grads


def test_steps_run_eagerly_under_hooks_so_reduce_gradients_runs_every_step():
    x, y = _data(16)
    hooks = CountingReduce()
    with hooks.scope():
        model = _model(jit_compile=True)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert hooks.calls == 8  # once per step, not once per trace
    CountingReduce.compiled_steps = True  # the hooks vouch that a traced step may replay without them
    try:
        model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    finally:
        del CountingReduce.compiled_steps
    assert 8 < hooks.calls < 16  # called while tracing, not by the replayed steps


def test_callback_resume_epoch_sets_where_fit_starts():
    class ResumeAt(tp.callbacks.Callback):
        def resume_epoch(self, epoch):
            return 2

    class Later(tp.callbacks.Callback):
        def resume_epoch(self, epoch):
            return epoch - 1  # earlier than asked: ignored, fit never goes back

    x, y = _data(8)
    model = _model()
    history = model.fit(x, y, epochs=4, verbose=0, callbacks=[ResumeAt(), Later()])
    assert history.epoch == [2, 3]
    assert model.fit(x, y, epochs=4, initial_epoch=3, verbose=0, callbacks=[ResumeAt()]).epoch == [3]


def test_a_scope_belongs_to_the_thread_that_opened_it():
    import threading

    hooks = tp.callbacks.TrainingHooks()
    seen = []
    with hooks.scope():
        worker = threading.Thread(target=lambda: seen.append(tp.callbacks.hooks.current()))
        worker.start()
        worker.join()
        assert tp.callbacks.hooks.current() is hooks
    assert seen == [None]
