"""How tensors print: one row per line, as TensorFlow and NumPy print them; as HTML in a notebook; R's way on
request.

``repr(t)`` is ``tapeflow.Tensor(<values>, shape=..., dtype=...)``; from rank 2 on, the values start on their
own line and each row takes one line. ``str(t)`` (what ``print`` shows) is the values alone, as NumPy prints
an array. Both follow NumPy's print options, overridden by :func:`set_printoptions` for tensors only.
:func:`r_view` shows an array the way R prints it: column-major ``, , k`` slices with ``[i,]`` and ``[,j]``
labels.

Example:
    >>> import tapeflow as tp
    >>> tp.constant([[1, 2], [3, 4]])
    tapeflow.Tensor(
    [[1 2]
     [3 4]], shape=(2, 2), dtype=int32)
    >>> print(tp.constant([[1.5, 2.0], [3.0, 4.0]]))
    [[1.5 2. ]
     [3.  4. ]]
"""

from __future__ import annotations

import contextlib
import html

import numpy as np

from tapeflow import _backend as B

_PREFIX = "tapeflow.Tensor("
# Tensor-only overrides of NumPy's print options (set_printoptions); NumPy's own options apply underneath.
_options: dict = {}


def set_printoptions(**options) -> None:
    """Set how tensors print, with NumPy's option names (``precision``, ``threshold``, ``edgeitems``,
    ``linewidth``, ``suppress``, ``formatter``, ...). They override NumPy's options for tensors only;
    ``set_printoptions()`` with no argument goes back to NumPy's.

    Raises:
        TypeError: for a name NumPy's ``set_printoptions`` does not know.

    Example:
        >>> import tapeflow as tp
        >>> tp.set_printoptions(precision=2)
        >>> tp.constant([1 / 3, 2 / 3])
        tapeflow.Tensor([0.33 0.67], shape=(2,), dtype=float32)
        >>> tp.set_printoptions()
        >>> tp.constant([1 / 3])
        tapeflow.Tensor([0.33333334], shape=(1,), dtype=float32)
    """
    known = set(np.get_printoptions())
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(
            f"set_printoptions: unknown option(s) {unknown}; choose from {sorted(known)}. Received: {options}"
        )
    if not options:
        _options.clear()
    _options.update(options)


def get_printoptions() -> dict:
    """The print options tensors use now: NumPy's, with :func:`set_printoptions`'s on top."""
    return {**np.get_printoptions(), **_options}


@contextlib.contextmanager
def printoptions(**options):
    """A ``with`` block in which tensors print with ``options`` (as :func:`set_printoptions`)."""
    saved = dict(_options)
    try:
        if options:
            set_printoptions(**options)
        yield get_printoptions()
    finally:
        _options.clear()
        _options.update(saved)


def values_text(value, prefix: str = "") -> str:
    """The values of an array as NumPy prints them (one row per line), with the tensor print options."""
    value = np.asarray(value)
    with np.printoptions(**_options):
        if value.ndim == 0:
            return str(value[()])  # a NumPy scalar prints as 10.0, not "10."
        return np.array2string(value, separator=" ", prefix=prefix)


def tensor_repr(value, shape, dtype_name: str) -> str:
    """``tapeflow.Tensor(...)``: values inline up to rank 1, from the next line (one row per line) above."""
    tail = f", shape={shape}, dtype={dtype_name})"
    if np.ndim(value) >= 2:
        return f"{_PREFIX}\n{values_text(value)}{tail}"
    return f"{_PREFIX}{values_text(value, prefix=_PREFIX)}{tail}"


_HTML_CELLS = 400  # above this many values a notebook shows the (summarized) text instead of a table


def tensor_html(value, shape, dtype_name: str, kind: str = "Tensor") -> str:
    """A small HTML view of a tensor for notebooks: a header, then a table (rank 1-2) or the printed text."""
    value = np.asarray(value)
    head = (f"<div><b>tapeflow.{kind}</b> <code>shape={html.escape(str(shape))}</code> "
            f"<code>dtype={html.escape(dtype_name)}</code></div>")
    if value.ndim in (1, 2) and value.size <= _HTML_CELLS:
        rows = value[None, :] if value.ndim == 1 else value
        with np.printoptions(**_options):
            cells = [[html.escape(np.array2string(np.asarray(x))) for x in row] for row in rows]
        style = 'style="text-align:right;font-family:monospace;padding:1px 6px"'
        body = "".join("<tr>" + "".join(f"<td {style}>{c}</td>" for c in row) + "</tr>" for row in cells)
        return f'{head}<table style="border-collapse:collapse">{body}</table>'
    return f"{head}<pre>{html.escape(values_text(value))}</pre>"


class TextView(str):
    """Text that shows as itself everywhere: ``print``, the REPL (no quotes, real line breaks) and notebooks
    (as preformatted HTML). ``r_view``, ``tape.summary()`` and the like return one; it is a ``str``."""

    __slots__ = ()

    def __repr__(self):
        return str(self)

    def _repr_html_(self):
        return f"<pre>{html.escape(self)}</pre>"


def _r_cell(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "TRUE" if x else "FALSE"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return np.format_float_positional(float(x), precision=7, fractional=False, trim="-")


def _r_matrix(m) -> list[str]:
    """The lines of one matrix, R style: ``[,j]`` over each column, ``[i,]`` before each row."""
    rows, cols = m.shape
    cells = [[_r_cell(m[i, j]) for j in range(cols)] for i in range(rows)]
    left = [f"[{i + 1},]" for i in range(rows)]
    lw = max(map(len, left), default=0)
    widths = [max([len(f"[,{j + 1}]")] + [len(cells[i][j]) for i in range(rows)]) for j in range(cols)]
    lines = [" " * lw + "".join(" " + f"[,{j + 1}]".rjust(w) for j, w in enumerate(widths))]
    for i in range(rows):
        lines.append(left[i].ljust(lw) + "".join(" " + cells[i][j].rjust(w) for j, w in enumerate(widths)))
    return lines


def r_view(x) -> TextView:
    """Show an array (Tensor, NumPy array or list) the way R prints it.

    A vector prints as ``[1] 1 2 3``; a matrix with ``[i,]`` row and ``[,j]`` column labels; a higher-rank
    array as one matrix per ``, , k`` slice of its trailing axes, the first of them varying fastest (R's
    column-major order). Indices count from 1, as in R. Booleans print as ``TRUE``/``FALSE``.

    Example:
        >>> import tapeflow as tp
        >>> x = tp.reshape(tp.range(1, 25), (3, 4, 2), order="F")   # R: array(1:24, dim = c(3, 4, 2))
        >>> tp.r_view(x)
        , , 1
        <BLANKLINE>
             [,1] [,2] [,3] [,4]
        [1,]    1    4    7   10
        [2,]    2    5    8   11
        [3,]    3    6    9   12
        <BLANKLINE>
        , , 2
        <BLANKLINE>
             [,1] [,2] [,3] [,4]
        [1,]   13   16   19   22
        [2,]   14   17   20   23
        [3,]   15   18   21   24
        >>> tp.r_view([1.5, 2.0, 3.0])
        [1] 1.5 2 3
    """
    a = B.to_numpy(getattr(x, "_value", x))
    if a.ndim == 0:
        return TextView("[1] " + _r_cell(a[()]))
    if a.ndim == 1:
        return TextView("[1] " + " ".join(_r_cell(v) for v in a))
    if a.ndim == 2:
        return TextView("\n".join(_r_matrix(a)))
    blocks = []
    for k in np.ndindex(*a.shape[2:][::-1]):
        index = k[::-1]  # the first trailing axis varies fastest, as in R
        label = ", , " + ", ".join(str(i + 1) for i in index)
        blocks.append("\n".join([label, "", *_r_matrix(a[(slice(None), slice(None), *index)])]))
    return TextView("\n\n".join(blocks))
