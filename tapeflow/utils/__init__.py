"""Utilities: labels, splits, padding, windows over time series, image folders, R-style reshape, downloads.

Example:
    >>> import numpy as np, tapeflow as tp
    >>> tp.utils.to_categorical([1, 0], num_classes=2).tolist()
    [[0.0, 1.0], [1.0, 0.0]]
"""

from tapeflow.datasets._download import get_file
from tapeflow.utils._arrays import all_dims, array_reshape, normalize, to_categorical
from tapeflow.utils._images import (
    array_to_img,
    image_dataset_from_directory,
    img_to_array,
    load_img,
    save_img,
)
from tapeflow.utils._sequences import Sequence, pad_sequences
from tapeflow.utils._split import train_test_split
from tapeflow.utils._timeseries import timeseries_dataset_from_array

PyDataset = Sequence  # Keras 3's name for the same protocol


def plot_model(model, to_file="model.png", show_shapes=True, **kwargs):
    """Keras's ``utils.plot_model``: draw the model's layers with :func:`tapeflow.plot.model` (matplotlib, not
    Graphviz) and save the picture to ``to_file``. Shapes and parameter counts are always shown; Keras's other
    display options are accepted and have no effect. Returns the Figure."""
    from tapeflow import plot

    return plot.model(model, save=to_file)

__all__ = [
    "to_categorical", "normalize", "array_reshape", "all_dims", "train_test_split", "pad_sequences",
    "Sequence", "PyDataset", "timeseries_dataset_from_array", "image_dataset_from_directory", "get_file",
    "array_to_img", "img_to_array", "load_img", "save_img", "plot_model",
]
