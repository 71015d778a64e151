"""Input pipelines: ``tp.data.Dataset`` and its constants (``tf.data``'s names).

Example:
    >>> import numpy as np, tapeflow as tp
    >>> x, y = np.arange(10, dtype="float32").reshape(5, 2), np.arange(5)
    >>> ds = tp.data.Dataset.from_tensor_slices((x, y)).shuffle(5, seed=1).batch(2).prefetch(tp.data.AUTOTUNE)
    >>> [xb.shape for xb, yb in ds.as_numpy_iterator()]
    [(2, 2), (2, 2), (1, 2)]
"""

from tapeflow.data.dataset import AUTOTUNE, INFINITE, UNKNOWN, Dataset

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN

__all__ = ["Dataset", "AUTOTUNE", "INFINITE", "UNKNOWN", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY"]
