"""``train_test_split``: seeded random (optionally stratified) splitting of arrays into train and test
parts."""

from __future__ import annotations

import math

import numpy as np


def _rng(seed):
    from tapeflow import random

    return random.generator(seed)


def _count(name, value, n):
    if isinstance(value, float):
        if not 0.0 < value < 1.0:
            raise ValueError(f"`{name}` as a fraction must be in (0, 1). Received: {name}={value}")
        return value * n
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value <= n:
        return int(value)
    raise ValueError(
        f"`{name}` must be a fraction in (0, 1) or a count in [0, {n}]. Received: {name}={value!r}"
    )


def _take(array, index):
    iloc = getattr(array, "iloc", None)  # pandas objects keep their type and labels
    if iloc is not None:
        return iloc[index]
    if hasattr(array, "numpy") and not isinstance(array, np.ndarray):
        from tapeflow import gather

        return gather(array, index)
    return np.asarray(array)[index]


def _stratified_test_indices(labels, n_test, rng):
    """Test indices with each class's share as close as possible to its share of the whole."""
    classes, inverse = np.unique(labels, return_inverse=True, axis=0 if labels.ndim > 1 else None)
    inverse = inverse.reshape(-1)
    members = [rng.permutation(np.flatnonzero(inverse == k)) for k in range(len(classes))]
    exact = np.array([len(m) for m in members]) * n_test / len(labels)
    quota = np.floor(exact).astype(int)
    # Largest remainders get the leftover places, ties broken at random.
    order = np.lexsort((rng.random(len(exact)), -(exact - quota)))
    quota[order[: n_test - quota.sum()]] += 1
    return np.concatenate([m[:q] for m, q in zip(members, quota)] + [np.zeros(0, int)])


def train_test_split(*arrays, test_size=None, train_size=None, shuffle=True, stratify=None, seed=None):
    """Split arrays (same first dimension) into random train and test parts, as scikit-learn's function does.

    Args:
        *arrays: NumPy arrays, Tensors, lists or pandas objects with the same length.
        test_size: a fraction in (0, 1) or a count; default 0.25 (or the complement of ``train_size``).
        train_size: a fraction or count; default: everything not in the test part.
        shuffle: shuffle before splitting (required for ``stratify``).
        stratify: labels whose class proportions both parts keep.
        seed: makes the split repeatable; without it ``tp.random`` decides (``tp.random.set_seed`` fixes it).

    Returns:
        A list ``[a_train, a_test, b_train, b_test, ...]``.

    Raises:
        ValueError: for arrays of different lengths or sizes that do not fit.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> x, y = np.arange(20).reshape(10, 2), np.array([0] * 5 + [1] * 5)
        >>> parts = tp.utils.train_test_split(x, y, test_size=0.4, stratify=y, seed=0)
        >>> x_train, x_test, y_train, y_test = parts
        >>> x_train.shape, x_test.shape, np.bincount(y_test).tolist()
        ((6, 2), (4, 2), [2, 2])
    """
    if not arrays:
        raise ValueError("train_test_split: pass at least one array")
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(f"train_test_split: arrays have different lengths; got {lengths}")
    n = lengths[0]
    if test_size is None and train_size is None:
        test_size = 0.25
    n_test = math.ceil(_count("test_size", test_size, n)) if test_size is not None else None
    n_train = math.floor(_count("train_size", train_size, n)) if train_size is not None else None
    n_test = n - n_train if n_test is None else n_test
    n_train = n - n_test if n_train is None else n_train
    if n_train + n_test > n or n_train <= 0 or n_test <= 0:
        raise ValueError(
            f"train_test_split: with {n} samples, test_size={test_size!r} and train_size={train_size!r} give "
            f"{n_train} train and {n_test} test samples; each part needs at least one and they must fit"
        )
    if stratify is not None and not shuffle:
        raise ValueError("train_test_split: `stratify` requires shuffle=True")
    if not shuffle:
        train, test = np.arange(n_train), np.arange(n_train, n_train + n_test)
    else:
        rng = _rng(seed)
        if stratify is None:
            order = rng.permutation(n)
            test, rest = order[:n_test], order[n_test:]
        else:
            labels = np.asarray(stratify)
            if len(labels) != n:
                raise ValueError(f"train_test_split: `stratify` has {len(labels)} labels for {n} samples")
            test = _stratified_test_indices(labels, n_test, rng)
            rest = rng.permutation(np.setdiff1d(np.arange(n), test))
            test = rng.permutation(test)
        train = rest[:n_train] if stratify is None else _stratified_subset(rest, labels, n_train, rng)
    out = []
    for a in arrays:
        out.extend((_take(a, train), _take(a, test)))
    return out


def _stratified_subset(candidates, labels, n_train, rng):
    """``n_train`` of ``candidates``, stratified too, so that an explicit train_size keeps the proportions."""
    if n_train == len(candidates):
        return candidates
    picked = _stratified_test_indices(labels[candidates], n_train, rng)
    return candidates[rng.permutation(picked)]
