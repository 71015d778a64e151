"""fit / evaluate / predict take tp.data.Dataset, Python generators, Sequence objects and pandas frames."""

from __future__ import annotations

import numpy as np
import pytest

import tapeflow as tp

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 4)).astype("float32")
Y = (X[:, 0] + X[:, 1] > 0).astype("int64")


def model():
    m = tp.Sequential([tp.Input(shape=(4,)), tp.layers.Dense(2, activation="softmax")])
    m.compile(optimizer=tp.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def same_start():
    tp.random.set_seed(5)
    return model()


def test_dataset_gives_the_same_training_as_arrays():
    arrays = same_start().fit(X, Y, batch_size=20, epochs=3, shuffle=False, verbose=0).history["loss"]
    ds = tp.data.Dataset.from_tensor_slices((X, Y)).batch(20)
    m = same_start()
    from_ds = m.fit(ds, epochs=3, verbose=0).history["loss"]
    np.testing.assert_allclose(from_ds, arrays, rtol=1e-6)
    loss, acc = m.evaluate(ds, verbose=0)
    assert np.isclose(loss, m.evaluate(X, Y, verbose=0)[0], rtol=1e-6)
    assert m.predict(ds, verbose=0).shape == (120, 2)
    assert m.predict(tp.data.Dataset.from_tensor_slices(X).batch(50), verbose=0).shape == (120, 2)


def test_dataset_with_sample_weights_and_steps_per_epoch():
    w = np.ones(120, "float32")
    ds = tp.data.Dataset.from_tensor_slices((X, Y, w)).batch(30)
    m = model()
    history = m.fit(ds.repeat(), epochs=2, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(ValueError, match="infinite.*steps_per_epoch"):
        m.fit(ds.repeat(), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="must yield the targets itself"):
        m.fit(ds, Y, epochs=1, verbose=0)


def test_endless_generator_with_steps_and_a_finite_one_that_runs_out():
    def endless():
        rng = np.random.default_rng(1)
        while True:
            i = rng.integers(0, 120, 16)
            yield X[i], Y[i]

    m = model()
    assert len(m.fit(endless(), steps_per_epoch=4, epochs=3, verbose=0).history["loss"]) == 3
    one_pass = ((X[i:i + 40], Y[i:i + 40]) for i in range(0, 120, 40))
    assert len(m.fit(one_pass, epochs=1, verbose=0).history["loss"]) == 1
    again = ((X[i:i + 40], Y[i:i + 40]) for i in range(0, 120, 40))
    with pytest.raises(ValueError, match="ran out of batches.*from_generator"):
        m.fit(again, epochs=2, verbose=0)


def test_sequence_objects_are_batched_by_index_and_told_when_epochs_end():
    class Batches(tp.utils.Sequence):
        def __init__(self):
            self.epochs_ended, self.seen = 0, []

        def __len__(self):
            return 4

        def __getitem__(self, i):
            self.seen.append(i)
            return X[i * 30:(i + 1) * 30], Y[i * 30:(i + 1) * 30]

        def on_epoch_end(self):
            self.epochs_ended += 1

    seq = Batches()
    m = model()
    m.fit(seq, epochs=3, shuffle=True, verbose=0)
    assert seq.epochs_ended == 3 and sorted(seq.seen) == sorted(list(range(4)) * 3)
    assert seq.seen[:4] != [0, 1, 2, 3] or seq.seen[4:8] != [0, 1, 2, 3]  # shuffled batch order
    assert m.predict(seq, verbose=0).shape == (120, 2)


def test_pandas_frames_become_arrays_columns_as_features():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    labels = pd.Series(Y, name="label")
    tp.random.set_seed(5)
    m = model()
    history = m.fit(frame, labels, batch_size=20, epochs=2, shuffle=False, validation_split=0.25, verbose=0)
    tp.random.set_seed(5)
    ref = model().fit(X, Y, batch_size=20, epochs=2, shuffle=False, validation_split=0.25, verbose=0)
    np.testing.assert_allclose(history.history["val_loss"], ref.history["val_loss"], rtol=1e-6)
    assert m.predict(frame, verbose=0).shape == (120, 2)
    with pytest.raises(TypeError, match=r"column\(s\) \['kind'\] are not numeric"):
        m.fit(frame.assign(kind="x"), labels, epochs=1, verbose=0)


def test_validation_data_may_be_a_dataset_or_a_sequence():
    train = tp.data.Dataset.from_tensor_slices((X[:90], Y[:90])).batch(30)
    val = tp.data.Dataset.from_tensor_slices((X[90:], Y[90:])).batch(30)
    m = model()
    history = m.fit(train, validation_data=val, epochs=2, verbose=0)
    assert len(history.history["val_loss"]) == 2
    np.testing.assert_allclose(history.history["val_loss"][-1], m.evaluate(X[90:], Y[90:], verbose=0)[0],
                               rtol=1e-6)
