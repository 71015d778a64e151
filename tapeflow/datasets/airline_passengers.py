"""Airline passengers: monthly international airline passengers (thousands), 1949-01 to 1960-12.

Box and Jenkins' "Series G" (Box, Jenkins and Reinsel (1976), *Time Series Analysis, Forecasting and
Control*), R's ``AirPassengers``. Source file: PyPI ``sktime`` 1.2.0 (BSD-3-Clause),
``sktime/datasets/data/Airline/Airline.csv``, identical to R's values; sha256
``28af0eb869db6d9fbd31d5af03993a0cbf36c0857c3eb046a068c094b60da851``. A trend with multiplicative yearly
seasonality: the classic small forecasting series (train on 1949–1958, test on 1959–1960).
"""

from __future__ import annotations

from tapeflow.datasets._tabular import column_values, read_rows, tabular_bunch

DESCR = __doc__


def load_data():
    """Load the airline passengers series as a Bunch.

    Returns:
        A :class:`~tapeflow.datasets.Bunch` with ``data`` (float32, (144, 1), passengers in thousands),
        ``feature_names`` (``["passengers"]``), ``row_names`` (the months ``"1949-01"`` .. ``"1960-12"``),
        ``frame`` (indexed by month as a pandas PeriodIndex; None without pandas) and ``DESCR``.

    Example:
        >>> import tapeflow as tp
        >>> air = tp.datasets.airline_passengers.load_data()
        >>> air.data.shape, air.data[:3, 0].tolist(), air.row_names[-1]
        ((144, 1), [112.0, 118.0, 132.0], '1960-12')
    """
    _, *rows = read_rows("airline.csv")
    months = [r[0] for r in rows]
    return tabular_bunch(column_values([r[1:] for r in rows]), ["passengers"], months, DESCR,
                         index=_month_index(months), index_name="month")


def _month_index(months):
    try:
        import pandas as pd
    except ImportError:
        return None
    return pd.PeriodIndex(months, freq="M")
