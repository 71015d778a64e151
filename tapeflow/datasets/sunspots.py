"""Sunspots: yearly mean sunspot numbers, 1700 to 2008 (roughly 11-year cycles).

Source: NOAA National Geophysical Data Center (public domain, as statsmodels marks it); bundled file from PyPI
``statsmodels`` 0.15.0 (BSD-3-Clause), ``statsmodels/datasets/sunspots/sunspots.csv``; sha256
``f67889b1d9002cd5227f0e0ef54e35b419cdd85a31279adef6f73fb41e5c0a9b``. It agrees with R's ``sunspot.year``
(1700–1988) to within rounding. A classic univariate series for recurrent networks and AR models.
"""

from __future__ import annotations

import numpy as np

from tapeflow.datasets._tabular import column_values, read_rows, tabular_bunch

DESCR = __doc__


def load_data():
    """Load the yearly sunspot numbers as a Bunch.

    Returns:
        A :class:`~tapeflow.datasets.Bunch` with ``data`` (float32, (309, 1)), ``feature_names``
        (``["sunactivity"]``), ``row_names`` (the years as strings), ``years`` (int64, 1700..2008), ``frame``
        (indexed by year; None without pandas) and ``DESCR``.

    Example:
        >>> import tapeflow as tp
        >>> sun = tp.datasets.sunspots.load_data()
        >>> sun.data.shape, sun.years[0], sun.data[:3, 0].tolist()
        ((309, 1), np.int64(1700), [5.0, 11.0, 16.0])
    """
    _, *rows = read_rows("sunspots.csv")
    values = column_values(rows)
    years = values[:, 0].astype(np.int64)
    return tabular_bunch(values[:, 1:], ["sunactivity"], [str(y) for y in years], DESCR, index=years,
                         index_name="year", years=years)
