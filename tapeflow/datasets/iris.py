"""Iris: 150 flowers, 4 measurements in cm, 3 species (R. A. Fisher, 1936), the copy scikit-learn ships.

Source: PyPI ``scikit-learn`` 1.9.1, ``sklearn/datasets/data/iris.csv`` (BSD-3-Clause package); the data is
Fisher's Iris data from the UCI Machine Learning Repository (CC BY 4.0 there). sha256
``f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449``.
"""

from __future__ import annotations

import numpy as np

from tapeflow.datasets._tabular import column_values, read_rows, tabular_bunch

DESCR = __doc__
FEATURE_NAMES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


def load_data():
    """Load Iris as a Bunch.

    Returns:
        A :class:`~tapeflow.datasets.Bunch` with ``data`` (float32, (150, 4)), ``target`` (int64, (150,),
        classes 0/1/2, 50 each), ``target_names`` (``["setosa", "versicolor", "virginica"]``),
        ``feature_names``, ``row_names`` (``"1"`` .. ``"150"``, as in R), ``frame`` (features plus a
        ``species`` column; None without pandas) and ``DESCR``.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> iris = tp.datasets.iris.load_data()
        >>> iris.data.shape, np.bincount(iris.target).tolist(), iris.target_names
        ((150, 4), [50, 50, 50], ['setosa', 'versicolor', 'virginica'])
    """
    header, *rows = read_rows("iris.csv")
    values = column_values(rows)
    target = values[:, 4].astype(np.int64)
    target_names = header[2:]
    bunch = tabular_bunch(values[:, :4], FEATURE_NAMES, [str(i + 1) for i in range(len(rows))], DESCR,
                          target=target, target_names=target_names)
    if bunch.frame is not None:
        bunch.frame["species"] = [target_names[t] for t in target]
    return bunch
