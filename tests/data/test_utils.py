"""tp.utils: labels, splits, padding, time-series windows, image folders and R-style reshape."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapeflow as tp
from tapeflow.utils import (
    array_reshape,
    image_dataset_from_directory,
    normalize,
    pad_sequences,
    timeseries_dataset_from_array,
    to_categorical,
    train_test_split,
)


def test_to_categorical_values_and_errors():
    out = to_categorical(np.array([[2], [0]]), num_classes=4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0]])
    assert out.dtype == np.float32 and to_categorical([1, 1]).shape == (2, 2)
    assert to_categorical(np.zeros((2, 3), int), 2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match=r"must be in \[0, 1\] for num_classes=2; got labels from 0 to 2"):
        to_categorical([0, 2], num_classes=2)
    with pytest.raises(ValueError, match="integers"):
        to_categorical([0.5])


def test_normalize_rows_have_unit_norm():
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_allclose(np.linalg.norm(normalize(x), axis=1), 1.0)
    np.testing.assert_allclose(np.abs(normalize(x, axis=0, order=1)).sum(axis=0), 1.0)


def test_array_reshape_has_r_meaning():
    # R: matrix(1:8, nrow = 2) fills by columns
    np.testing.assert_array_equal(array_reshape(np.arange(1, 9), (2, 4), order="F"),
                                  [[1, 3, 5, 7], [2, 4, 6, 8]])
    np.testing.assert_array_equal(array_reshape(np.arange(1, 9), (2, 4)), [[1, 2, 3, 4], [5, 6, 7, 8]])
    # "F" reads column-major too: reshaping an R matrix back to a vector gives R's as.vector()
    m = array_reshape(np.arange(1, 9), (2, 4), order="F")
    np.testing.assert_array_equal(array_reshape(m, 8, order="F"), np.arange(1, 9))
    t = tp.array_reshape(tp.constant(np.arange(6.0)), (3, 2), order="F")
    assert isinstance(t, tp.Tensor) and t.numpy().tolist() == [[0, 3], [1, 4], [2, 5]]
    assert tp.utils.all_dims() is Ellipsis
    with pytest.raises(tp.ShapeError, match=r"cannot reshape 8 elements of shape \(8,\) into \(3, 3\)"):
        array_reshape(np.arange(8), (3, 3))
    with pytest.raises(ValueError, match="order"):
        array_reshape(np.arange(8), (2, 4), order="R")


@settings(max_examples=40, deadline=None)
@given(n=st.integers(4, 80), k=st.integers(2, 4), frac=st.floats(0.1, 0.6), seed=st.integers(0, 1000))
def test_train_test_split_partitions_and_stratifies(n, k, frac, seed):
    y = np.arange(n) % k
    x = np.arange(n)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=frac, stratify=y, seed=seed)
    assert sorted(np.concatenate([x_train, x_test]).tolist()) == list(range(n))
    assert len(x_test) == int(np.ceil(frac * n))
    np.testing.assert_array_equal(y[x_train], y_train)
    expected = np.bincount(y, minlength=k) * len(x_test) / n
    assert np.all(np.abs(np.bincount(y_test, minlength=k) - expected) < 1 + 1e-9)
    again = train_test_split(x, y, test_size=frac, stratify=y, seed=seed)
    np.testing.assert_array_equal(again[1], x_test)


def test_train_test_split_options_and_errors():
    x = np.arange(10)
    a, b = train_test_split(x, shuffle=False, test_size=3)
    assert a.tolist() == list(range(7)) and b.tolist() == [7, 8, 9]
    a, b = train_test_split(x, train_size=0.5, test_size=0.2, seed=1)
    assert len(a) == 5 and len(b) == 2 and not set(a) & set(b)
    with pytest.raises(ValueError, match=r"different lengths; got \[10, 9\]"):
        train_test_split(x, x[:9])
    with pytest.raises(ValueError, match="`test_size` as a fraction must be in"):
        train_test_split(x, test_size=1.5)
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": x})
    f_train, f_test = train_test_split(frame, seed=0)
    assert isinstance(f_train, pd.DataFrame) and len(f_test) == 3


def test_pad_sequences():
    np.testing.assert_array_equal(pad_sequences([[1, 2, 3], [4]]), [[1, 2, 3], [0, 0, 4]])
    out = pad_sequences([[1, 2, 3], [4]], maxlen=2, truncating="post", padding="post")
    np.testing.assert_array_equal(out, [[1, 2], [4, 0]])
    out = pad_sequences([np.ones((2, 3)), np.ones((1, 3))], dtype="float32", value=-1.0)
    assert out.shape == (2, 2, 3) and out[1, 0, 0] == -1 and out.dtype == np.float32
    with pytest.raises(ValueError, match="`padding` must be 'pre' or 'post'"):
        pad_sequences([[1]], padding="middle")


def test_timeseries_windows_match_keras_semantics():
    data = np.arange(100, dtype=np.float32).reshape(50, 2)
    targets = np.arange(50)
    ds = timeseries_dataset_from_array(data, targets, sequence_length=5, sequence_stride=3, sampling_rate=2,
                                       batch_size=4, start_index=2, end_index=40)
    batches = list(ds.as_numpy_iterator())
    x = np.concatenate([b[0] for b in batches])
    y = np.concatenate([b[1] for b in batches])
    starts = np.arange(2, 2 + 40 - 2 - 8, 3)
    assert x.shape == (len(starts), 5, 2) and batches[0][0].shape == (4, 5, 2)
    for i, s in enumerate(starts):
        np.testing.assert_array_equal(x[i], data[s:s + 10:2])
    np.testing.assert_array_equal(y, targets[starts])
    assert len(ds) == -(-len(starts) // 4)


def test_timeseries_shuffle_is_seeded_and_predicts_next_value():
    series = np.arange(30, dtype=np.float32)
    ds = timeseries_dataset_from_array(series[:-4], series[4:], sequence_length=4, batch_size=None,
                                       shuffle=True, seed=3)
    pairs = list(ds.as_numpy_iterator())
    assert len(pairs) == 23  # 26 rows, windows of 4
    for window, target in pairs:
        assert target == window[-1] + 1
    assert [float(t) for _, t in pairs] != sorted(float(t) for _, t in pairs)
    again = timeseries_dataset_from_array(series[:-4], series[4:], sequence_length=4, batch_size=None,
                                          shuffle=True, seed=3)
    assert [float(t) for _, t in again.as_numpy_iterator()] == [float(t) for _, t in pairs]
    with pytest.raises(ValueError, match="a window spans 40 rows but only 30"):
        timeseries_dataset_from_array(series, None, sequence_length=40)


@pytest.fixture
def image_folder(tmp_path):
    image = pytest.importorskip("PIL.Image")
    for k, name in enumerate(["cat", "dog", "emu"]):
        (tmp_path / name).mkdir()
        for i in range(4 + k):
            arr = np.full((6, 5, 3), 40 * k + i, dtype=np.uint8)
            image.fromarray(arr).save(tmp_path / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_image_dataset_from_directory(image_folder):
    ds = image_dataset_from_directory(image_folder, image_size=(4, 3), batch_size=5, shuffle=False)
    assert ds.class_names == ["cat", "dog", "emu"] and len(ds.file_paths) == 15
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(5, 4, 3, 3)] * 3 and batches[0][0].dtype == np.float32
    labels = np.concatenate([b[1] for b in batches])
    assert np.bincount(labels).tolist() == [4, 5, 6]
    np.testing.assert_allclose(batches[0][0][0], 0.0, atol=2)  # first cat image, value 0 (jpeg: approx)
    gray = image_dataset_from_directory(image_folder, color_mode="grayscale", label_mode="categorical",
                                        image_size=(2, 2), batch_size=None, shuffle=False)
    img, onehot = next(gray.as_numpy_iterator())
    assert img.shape == (2, 2, 1) and onehot.tolist() == [1, 0, 0]


def test_image_dataset_validation_split_is_disjoint(image_folder):
    train, val = image_dataset_from_directory(image_folder, image_size=(2, 2), validation_split=0.2,
                                              subset="both", seed=7)
    assert len(val.file_paths) == 3 and len(train.file_paths) == 12
    assert not set(train.file_paths) & set(val.file_paths)
    with pytest.raises(ValueError, match="give a `seed`"):
        image_dataset_from_directory(image_folder, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match=r"`label_mode` must be one of \['int', 'categorical'"):
        image_dataset_from_directory(image_folder, label_mode="sparse")
    with pytest.raises(ValueError, match="exactly 2 classes"):
        image_dataset_from_directory(image_folder, label_mode="binary")


def test_sequence_base_class():
    class Empty(tp.utils.Sequence):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define __len__"):
        len(Empty())


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), length=st.integers(1, 6), stride=st.integers(1, 4), rate=st.integers(1, 3),
       batch=st.integers(1, 7), start=st.integers(0, 5), with_targets=st.booleans())
def test_timeseries_windows_equal_a_naive_loop(n, length, stride, rate, batch, start, with_targets):
    data = np.arange(n * 2).reshape(n, 2)
    targets = np.arange(100, 100 + n) if with_targets else None
    span = (length - 1) * rate
    def make():
        return timeseries_dataset_from_array(data, targets, length, stride, rate, batch_size=batch,
                                             start_index=start)

    if start >= n or n - start - span <= 0:
        with pytest.raises(ValueError):
            make()
        return
    ds = make()
    windows, ys = [], []
    for element in ds.as_numpy_iterator():
        xb, yb = element if with_targets else (element, None)
        assert len(xb) <= batch
        windows.extend(xb)
        ys.extend([] if yb is None else yb)
    expected = [data[s:s + span + 1:rate] for s in range(start, n - span, stride)]
    assert len(windows) == len(expected)
    for got, want in zip(windows, expected):
        np.testing.assert_array_equal(got, want)
    if with_targets:
        assert ys == [100 + s for s in range(start, n - span, stride)]
