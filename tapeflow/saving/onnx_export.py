"""Export Sequential and functional models to ONNX, to run them in onnxruntime and other ONNX engines.

``model.export("model.onnx", format="onnx")`` (or :func:`export_onnx`) walks the model's layers in order,
turns each into ONNX operators (see :mod:`tapeflow.saving.onnx_layers` for the supported layers), stores the
weights as initializers, and writes the file atomically. The batch axis is symbolic; every other axis keeps
the size the model was built for. Inference semantics: Dropout is the identity, BatchNormalization uses its
moving statistics. Tensors stay channels-last, as in tapeflow; convolutions and pooling are wrapped in
transposes (which ONNX runtimes fuse away).

The ``onnx`` package is an optional extra (``pip install onnx onnxruntime``, or ``pip install -e ".[onnx]"``
in a checkout), imported on first use.

Example:
    >>> import os, tempfile
    >>> import tapeflow as tp
    >>> model = tp.Sequential([tp.Input(shape=(4,)), tp.layers.Dense(3, activation="softmax")])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.onnx")
    >>> model.export(path, format="onnx")
    >>> import onnx
    >>> [node.op_type for node in onnx.load(path).graph.node]
    ['MatMul', 'Add', 'Softmax', 'Identity']
"""

from __future__ import annotations

import os

import numpy as np

from tapeflow._extras import install_hint
from tapeflow.saving.atomic import atomic_write_bytes

OPSET = 17


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError(f"ONNX export needs the `onnx` package: {install_hint('onnx')}") from None
    return onnx


class Graph:
    """Collects ONNX nodes and initializers with unique names; converters add to it.

    Attributes:
        nodes, initializers: what the graph will hold.
    """

    def __init__(self, onnx, opset=OPSET):
        self.onnx = onnx
        self.opset = opset
        self.helper = onnx.helper
        self.nodes = []
        self.initializers = []
        self.dtype = np.dtype("float32")  # the dtype of the layer being converted: scalars take it
        self.call = ((), {})  # the other arguments of the call being converted (ONNX names for tensors)
        self._names = set()

    def name(self, base: str) -> str:
        """A name not used yet, derived from ``base``."""
        base = base.replace(":", "_")
        name, i = base, 1
        while name in self._names:
            name, i = f"{base}_{i}", i + 1
        self._names.add(name)
        return name

    def const(self, array, base: str) -> str:
        """Add ``array`` as an initializer; return its name."""
        name = self.name(base)
        arr = np.ascontiguousarray(np.asarray(array))
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def scalar(self, value, base: str) -> str:
        """A scalar constant of the current layer's dtype (so float16/64 models stay in their dtype)."""
        return self.const(np.asarray(value, dtype=self.dtype), base)

    def reduce(self, op_type: str, x: str, axes, base: str, keepdims: int = 1) -> str:
        """A Reduce* node: axes as an attribute up to opset 17, as an input from opset 18."""
        if self.opset >= 18:
            return self.op(op_type, [x, self.ints(list(axes), f"{base}/axes")], base, keepdims=keepdims)
        return self.op(op_type, [x], base, axes=list(axes), keepdims=keepdims)

    def ints(self, values, base: str) -> str:
        """An int64 1-d constant (shapes, axes, pads of operators that take them as inputs)."""
        return self.const(np.asarray(values, dtype=np.int64), base)

    def op(self, op_type: str, inputs, base: str, outputs: int = 1, **attributes):
        """Add a node; return its output name (or a list of ``outputs`` names when ``outputs > 1``)."""
        names = [
            self.name(f"{base}/{op_type}" if i == 0 else f"{base}/{op_type}:{i}") for i in range(outputs)
        ]
        self.nodes.append(
            self.helper.make_node(
                op_type, list(inputs), names, name=self.name(f"{base}/{op_type}#"), **attributes
            )
        )
        return names[0] if outputs == 1 else names


class _Step:
    """One layer application: the layer, the keys of its symbolic input values and of its outputs, and the
    call ``(inputs, args, kwargs)`` they fill (``None`` for a plain one-tensor call)."""

    __slots__ = ("layer", "inputs", "outputs", "structure")

    def __init__(self, layer, inputs, outputs, structure):
        self.layer, self.inputs, self.outputs, self.structure = layer, inputs, outputs, structure


def _plan(model):
    """The model as (input keys and specs, steps in order, output keys); nested models are inlined.

    Raises:
        TypeError: for a subclassed model (its ``call`` is Python code, not a graph).
    """
    from tapeflow._nest import flatten
    from tapeflow.models import Functional, Sequential

    if isinstance(model, Sequential):
        if model._batch_input_shape is None:
            raise ValueError(
                f"export: model '{model.name}' does not know its input shape; give one "
                f"(tp.Input(shape=...)) or build it first"
            )
        key = ("in", id(model))
        specs = [(key, "input", tuple(model._batch_input_shape), np.dtype(model.dtype))]
        steps, current = [], key
        for layer in model.layers:
            out = ("out", id(layer), len(steps))
            steps.append(_Step(layer, [current], [out], None))
            current = out
        return specs, steps, [current]
    if isinstance(model, Functional):
        from tapeflow.layers.symbolic import SymbolicTensor

        specs = [(id(t), t.node.layer.name, tuple(t.shape), t.dtype) for t in model._flat_inputs]
        steps = []
        for node in model._nodes:
            call = (node.inputs, tuple(node.args), dict(node.kwargs))
            leaves = [id(t) for t in flatten(call) if isinstance(t, SymbolicTensor)]
            steps.append(_Step(node.layer, leaves, [id(t) for t in flatten(node.outputs)], call))
        return specs, steps, [id(t) for t in model._flat_outputs]
    raise TypeError(
        f"export: '{model.name}' is a subclassed {type(model).__name__}; ONNX export takes "
        f"Sequential and functional models (rebuild it with tp.Model(inputs, outputs))"
    )


def _inline(steps):
    """Replace steps whose layer is itself a Sequential/functional model by that model's own steps."""
    from tapeflow.models import Functional, Sequential

    out, work = [], list(reversed(steps))
    while work:  # iterative: nested models expand in place, without recursion
        step = work.pop()
        if not isinstance(step.layer, (Sequential, Functional)):
            out.append(step)
            continue
        specs, inner, outputs = _plan(step.layer)
        rename = {spec[0]: outer for spec, outer in zip(specs, step.inputs)}
        rename.update({inner_out: outer for inner_out, outer in zip(outputs, step.outputs)})
        scope = ("scope", id(step), len(out))
        fix = lambda k, rename=rename, scope=scope: rename.get(k, (scope, k))  # noqa: E731
        work.extend(
            reversed(
                [
                    _Step(s.layer, [fix(k) for k in s.inputs], [fix(k) for k in s.outputs], s.structure)
                    for s in inner
                ]
            )
        )
    return out


def _trace(specs, steps, sizes):
    """Run the steps on zeros with the unknown input sizes set to ``sizes``; return each value's array."""
    from tapeflow._nest import flatten
    from tapeflow._tape import no_recording

    values = {
        key: np.zeros(tuple(sizes if d is None else d for d in shape), dtype)
        for key, _, shape, dtype in specs
    }
    with no_recording():
        for step in steps:
            inputs, args, kwargs = fill_call(step, [values[k] for k in step.inputs])
            result = step.layer(inputs, *args, training=False, **kwargs)
            for key, value in zip(step.outputs, flatten(result)):
                values[key] = np.asarray(value)
    return values


def fill_call(step, leaves):
    """``(inputs, args, kwargs)`` of ``step``'s call with its symbolic tensors replaced, in order, by
    ``leaves`` (arrays when tracing, ONNX names when converting)."""
    from tapeflow._nest import map_structure
    from tapeflow.layers.symbolic import SymbolicTensor

    if step.structure is None:
        return leaves[0], (), {}
    it = iter(leaves)
    return map_structure(lambda leaf: next(it) if isinstance(leaf, SymbolicTensor) else leaf, step.structure)


def _shapes(specs, steps):
    """Each value's static shape (None where a size follows the batch or another unknown input size) and
    dtype."""
    a, b = _trace(specs, steps, 2), _trace(specs, steps, 3)
    shapes = {
        k: tuple(None if i == 0 or x != y else x for i, (x, y) in enumerate(zip(a[k].shape, b[k].shape)))
        for k in a
    }
    return shapes, {k: v.dtype for k, v in a.items()}


def export_onnx(model, filepath, opset: int = OPSET) -> None:
    """Write ``model`` as an ONNX file (atomically).

    Args:
        model: a built Sequential or functional model.
        filepath: where to write (``.onnx``).
        opset: the ONNX operator set (17 or later).

    Raises:
        ImportError: without the ``onnx`` package.
        TypeError: for a subclassed model.
        NotImplementedError: for a layer (or layer option) without an ONNX translation, naming it.
    """
    from tapeflow.saving import onnx_layers

    onnx = _onnx()
    if opset < OPSET:
        raise ValueError(f"`opset` must be at least {OPSET}. Received: opset={opset}")
    specs, steps, outputs = _plan(model)
    steps = _inline(steps)
    shapes, dtypes = _shapes(specs, steps)
    g = Graph(onnx, opset)
    names = {}
    graph_inputs = []
    for key, name, shape, dtype in specs:
        names[key] = g.name(name)
        graph_inputs.append(_value_info(onnx, names[key], dtype, shape))
    for step in steps:
        convert = onnx_layers.converter(step.layer)
        g.dtype = np.dtype(step.layer.dtype)
        _, args, kwargs = fill_call(step, [names[k] for k in step.inputs])
        if (args or kwargs) and not getattr(convert, "takes_call_arguments", False):
            raise NotImplementedError(
                f"export: layer '{step.layer.name}' is called with extra arguments {args or kwargs}, which "
                f"its ONNX translation does not take"
            )
        g.call = (args, kwargs)
        outs = convert(
            g,
            step.layer,
            [names[k] for k in step.inputs],
            [shapes[k] for k in step.inputs],
            [shapes[k] for k in step.outputs],
        )
        for key, out in zip(step.outputs, outs):
            names[key] = out
    graph_outputs = []
    for i, key in enumerate(outputs):
        final = g.name(f"output_{i}")
        g.nodes.append(g.helper.make_node("Identity", [names[key]], [final], name=g.name(f"{final}#")))
        graph_outputs.append(_value_info(onnx, final, dtypes[key], shapes[key]))
    graph = g.helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    proto = g.helper.make_model(
        graph, producer_name="tapeflow", opset_imports=[g.helper.make_opsetid("", opset)]
    )
    from tapeflow import __version__

    proto.producer_version = __version__
    onnx.checker.check_model(proto)
    atomic_write_bytes(os.fspath(filepath), proto.SerializeToString())


def _value_info(onnx, name, dtype, shape):
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    dims = ["batch" if i == 0 else (f"{name}_dim{i}" if d is None else d) for i, d in enumerate(shape)]
    return onnx.helper.make_tensor_value_info(name, elem, dims)
