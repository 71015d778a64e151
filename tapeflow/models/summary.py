"""``model.summary()``: a Keras-style table of layers, output shapes and parameter counts."""

from __future__ import annotations

import html


def _format_bytes(n):
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n:.2f} B" if n else "0.00 B"


def _shape_text(shape):
    if shape is None:
        return "?"
    if isinstance(shape, dict):
        return "{" + ", ".join(f"{k}: {_shape_text(v)}" for k, v in shape.items()) + "}"
    if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], tuple)):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    return str(tuple(shape)).replace(",)", ")")


def _params(layer):
    seen, total, trainable = set(), 0, 0
    train_ids = {id(v) for v in layer.trainable_weights}
    for v in layer.weights:
        if id(v) in seen:
            continue
        seen.add(id(v))
        total += v.size
        trainable += v.size if id(v) in train_ids else 0
    return total, trainable


def _connections(model, layer):
    """``layer name[output index]`` of every tensor ``layer`` reads, in any argument of its calls."""
    nodes = getattr(model, "_nodes", None)
    if nodes is None:
        return None
    out = []
    for node in nodes:
        if node.layer is layer:
            out.extend(f"{t.node.layer.name}[{t.index}]" for t in node.parent_tensors)
    return out


def _layer_range(layers, layer_range):
    if layer_range is None:
        return layers
    names = [layer.name for layer in layers]
    if len(layer_range) != 2 or any(n not in names for n in layer_range):
        raise ValueError(
            f"summary: `layer_range` must be two layer names of {names}. Received: {layer_range!r}"
        )
    first, last = names.index(layer_range[0]), names.index(layer_range[1])
    return layers[first : last + 1]


def _widths(widths, line_length, positions):
    """Column widths from Keras's ``positions``: where each column ends, as fractions or characters."""
    if positions is None:
        return widths
    if len(positions) != len(widths):
        raise ValueError(f"summary: `positions` needs {len(widths)} column ends. Received: {positions!r}")
    total = line_length or sum(widths)
    ends = [int(p * total) if p <= 1 else int(p) for p in positions]
    if any(b <= a for a, b in zip([0, *ends], ends)):
        raise ValueError(f"summary: `positions` must increase. Received: {positions!r}")
    return [b - a for a, b in zip([0, *ends], ends)]


def _check_built(model):
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' has not been built yet, so its layers' shapes and weights are unknown. "
            f"Build it "
            f"by calling it on a batch of data, with model.build(input_shape), or give its input shape "
            f"(tp.Input(shape=...) as the first layer, or input_shape= on the first layer)."
        )


def _table(model, show_trainable, layer_range=None):
    """``(headers, layers, totals)``: the column names, per layer its rows of cells (the first row, then one
    per further connection), and the three totals lines."""
    functional = hasattr(model, "_nodes")
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    headers += ["Trainable"] if show_trainable else []
    layers = []
    for layer in _layer_range(model.layers, layer_range):
        count = _params(layer)[0] if layer.built else 0
        shape = getattr(layer, "_output_shape", None)
        cells = [f"{layer.name} ({type(layer).__name__})", _shape_text(shape), f"{count:,}"]
        conns = (_connections(model, layer) or []) if functional else []
        if functional:
            cells.append(conns[0] if conns else "")
        if show_trainable:
            cells.append("Y" if layer.trainable else "N")
        layers.append([cells] + [["", "", "", extra] for extra in conns[1:]])
    total, trainable = _params(model)
    itemsize = model.weights[0].dtype.itemsize if model.weights else 4
    totals = [
        f"Total params: {total:,} ({_format_bytes(total * itemsize)})",
        f"Trainable params: {trainable:,} ({_format_bytes(trainable * itemsize)})",
        f"Non-trainable params: {total - trainable:,} ({_format_bytes((total - trainable) * itemsize)})",
    ]
    return headers, layers, totals


def print_summary(model, line_length=None, print_fn=None, show_trainable=False, positions=None,
                  layer_range=None):
    """Print ``model``'s summary table through ``print_fn`` (default ``print``).

    Raises:
        ValueError: when the model is not built, or for ``positions`` / ``layer_range`` that do not fit.
    """
    _check_built(model)
    print_fn = print_fn or print
    headers, layers, totals = _table(model, show_trainable, layer_range)
    functional = "Connected to" in headers
    widths = [32, 25, 12] + ([30] if functional else [])
    if line_length and positions is None:
        scale = line_length / sum(widths)
        widths = [max(8, int(w * scale)) for w in widths]
    widths = _widths(widths, line_length, positions) + ([10] if show_trainable else [])
    total_width = sum(widths)

    def row(cells):
        text = ""
        for cell, w in zip(cells, widths):
            cell = str(cell)
            text += (cell if len(cell) < w - 1 else cell[: w - 4] + "...").ljust(w)
        return " " + text.rstrip()

    print_fn(f'Model: "{model.name}"')
    print_fn("_" * total_width)
    print_fn(row(headers))
    print_fn("=" * total_width)
    for i, rows in enumerate(layers):
        for cells in rows:
            print_fn(row(cells))
        if i < len(layers) - 1:
            print_fn(" " + "-" * (total_width - 1) if functional else "")
    print_fn("=" * total_width)
    for line in totals:
        print_fn(line)
    print_fn("_" * total_width)


def summary_html(model, show_trainable=False, layer_range=None) -> str:
    """The summary as an HTML table (what a notebook shows for ``model.summary()``).

    Raises:
        ValueError: when the model is not built, or for a ``layer_range`` that does not fit.
    """
    _check_built(model)
    headers, layers, totals = _table(model, show_trainable, layer_range)
    cell = 'style="text-align:left;padding:2px 10px;font-family:monospace"'
    head = "".join(f"<th {cell}>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td {cell}>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
                   for rows in layers for cells in rows)
    foot = "<br>".join(html.escape(line) for line in totals)
    return (f'<div><b>Model: "{html.escape(model.name)}"</b><table style="border-collapse:collapse">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table><div>{foot}</div></div>")
