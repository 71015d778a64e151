"""Preprocessing layers: ``Normalization``, which learns each feature's mean and variance with ``adapt``."""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow import ops
from tapeflow.layers.base import Layer, register_serializable


def _batches(data, batch_size, steps):
    """NumPy batches from an array, Tensor, DataFrame, tp.data.Dataset or iterable of batches."""
    if hasattr(data, "as_numpy_iterator"):  # a tp.data.Dataset (duck-typed: data sits above layers)
        source = data.as_numpy_iterator()
    elif isinstance(data, (list, tuple)) or hasattr(data, "shape"):
        arr = B.to_numpy(data)
        size = batch_size or len(arr) or 1
        source = (arr[i:i + size] for i in range(0, len(arr), size))
    else:
        source = iter(data)
    for i, batch in enumerate(source):
        if steps is not None and i >= steps:
            return
        if isinstance(batch, tuple):  # (x, y) elements: adapt to the features
            batch = batch[0]
        yield B.to_numpy(batch)


@register_serializable
class Normalization(Layer):
    """Standardize features: ``(x - mean) / sqrt(variance)``, with mean and variance learned by :meth:`adapt`.

    The statistics are kept per index of ``axis`` (default the last: one mean and variance per feature) and
    computed over every other axis. They are non-trainable weights, so they are saved with the model.

    Args:
        axis: the axis (or axes) with separate statistics; None for one scalar mean and variance.
        mean, variance: given statistics instead of :meth:`adapt` (broadcastable to the kept axes).
        invert: apply the inverse, ``x * sqrt(variance) + mean`` (to turn standardized predictions back).
        **kwargs: ``name``, ``dtype``, ``input_shape`` as for every layer.

    Shape:
        Any shape in, the same shape out.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> norm = tp.layers.Normalization()
        >>> norm.adapt(np.array([[1.0, 10.0], [3.0, 30.0]]))
        >>> norm(np.array([[2.0, 20.0], [3.0, 30.0]])).numpy()
        array([[0., 0.],
               [1., 1.]], dtype=float32)
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        self.axis = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: pass both `mean` and `variance`, or neither (and call adapt()).")
        self._given = None
        if mean is not None:
            self._given = (np.asarray(mean, np.float64), np.asarray(variance, np.float64))
        self.invert = bool(invert)
        self.mean = self.variance = None
        self._adapted = mean is not None

    # --- shapes ---------------------------------------------------------------------------------------------
    def _kept_axes(self, ndim):
        axes = []
        for a in self.axis:
            if not -ndim <= a < ndim:
                raise self._shape_error(f"axis {a} is out of range", f"an input of rank > {max(a, -a - 1)}",
                                        (None,) * ndim)
            axes.append(a % ndim)
        return sorted(axes)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        kept = self._kept_axes(ndim)
        if any(input_shape[a] is None for a in kept):
            raise self._shape_error("the axes with separate statistics need known sizes", "known sizes",
                                    input_shape)
        self._kept, self._ndim = kept, ndim
        self._broadcast = tuple(input_shape[a] if a in kept else 1 for a in range(ndim))
        shape = tuple(input_shape[a] for a in kept)
        self.mean = self.add_weight("mean", shape, "zeros", trainable=False)
        self.variance = self.add_weight("variance", shape, "ones", trainable=False)
        if self._given is not None:
            self._set(*self._given)
        self.built = True

    def _set(self, mean, variance):
        shape = tuple(self.mean.shape)
        try:
            mean = np.broadcast_to(np.asarray(mean, np.float64), shape)
            variance = np.broadcast_to(np.asarray(variance, np.float64), shape)
        except ValueError:
            raise self._shape_error("`mean`/`variance` do not fit the kept axes", f"shape {shape}",
                                    np.shape(mean)) from None
        self.mean.assign(mean.astype(self.dtype))
        self.variance.assign(variance.astype(self.dtype))

    # --- learning the statistics ----------------------------------------------------------------------------
    def adapt(self, data, batch_size=None, steps=None):
        """Compute the mean and variance of ``data`` (in one streaming pass) and store them.

        Args:
            data: an array, Tensor, DataFrame, ``tp.data.Dataset`` (of features, or of ``(x, y)`` pairs) or
                any iterable of batches.
            batch_size: for arrays, how many rows to read at a time.
            steps: read at most this many batches.

        Raises:
            ValueError: for empty data.
        """
        count, mean, m2 = 0, None, None
        for batch in _batches(data, batch_size, steps):
            batch = batch.astype(np.float64)
            if not self.built:
                self._build_from_array(batch)
            if batch.ndim != self._ndim:
                raise self._shape_error("adapt() got a batch of another rank", f"rank {self._ndim}",
                                        batch.shape)
            reduce = tuple(a for a in range(batch.ndim) if a not in self._kept)
            n = int(np.prod([batch.shape[a] for a in reduce])) if reduce else 1
            if n == 0:
                continue
            b_mean = batch.mean(axis=reduce).reshape(self.mean.shape)
            b_m2 = ((batch - batch.mean(axis=reduce, keepdims=True)) ** 2).sum(axis=reduce).reshape(
                self.mean.shape)
            if mean is None:
                count, mean, m2 = n, b_mean, b_m2
            else:  # Chan et al.'s parallel update: merge the batch's moments into the running ones
                delta = b_mean - mean
                total = count + n
                mean = mean + delta * n / total
                m2 = m2 + b_m2 + delta ** 2 * count * n / total
                count = total
        if mean is None:
            raise ValueError(f"Layer '{self.name}' (Normalization): adapt() got no data")
        self._set(mean, m2 / count)
        self._adapted = True

    def _build_from_array(self, batch):
        self._build_input_shape = (None, *batch.shape[1:])
        self.build(batch.shape)

    # --- the computation ------------------------------------------------------------------------------------
    def call(self, inputs):
        if not self._adapted:
            raise RuntimeError(
                f"Layer '{self.name}' (Normalization) has no statistics yet: call adapt(data) first, or pass "
                "mean= and variance="
            )
        mean = ops.reshape(self.mean, self._broadcast)
        std = ops.sqrt(ops.maximum(ops.reshape(self.variance, self._broadcast), 1e-7))
        return inputs * std + mean if self.invert else (inputs - mean) / std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = {**super().get_config(), "axis": list(self.axis), "invert": self.invert}
        if self.built and self._adapted:
            config["mean"] = self.mean.numpy().tolist()
            config["variance"] = self.variance.numpy().tolist()
        elif self._given is not None:
            config["mean"], config["variance"] = (v.tolist() for v in self._given)
        return config
