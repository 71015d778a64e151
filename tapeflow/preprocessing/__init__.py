"""Keras's ``keras.preprocessing`` names, kept so older code runs: the functions of :mod:`tapeflow.utils`.

Example:
    >>> import tapeflow as tp
    >>> tp.preprocessing.sequence.pad_sequences([[1, 2], [3]]).tolist()
    [[1, 2], [0, 3]]
"""

from tapeflow.preprocessing import image, sequence
from tapeflow.utils import image_dataset_from_directory, timeseries_dataset_from_array

__all__ = ["image", "sequence", "image_dataset_from_directory", "timeseries_dataset_from_array"]
