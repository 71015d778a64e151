"""Symbolic tensors for the functional API and the graph nodes layers record when called on them.

Calling a layer on a :class:`SymbolicTensor` (what ``tp.Input`` returns) builds the layer and returns
symbolic outputs, recording a :class:`CallNode`; ``tp.Model(inputs, outputs)`` replays those nodes on real
data. ``Layer.__call__`` hands symbolic calls to :func:`symbolic_call`; this module does not import the
``Layer`` class, so the layer base imports it and not the other way round. Symbolic tensors may be
passed in any argument of the call, not only the first (``MultiHeadAttention()(query, value)``,
``layer(x, mask=m)``). Output shapes are found by running the layer once on placeholder zeros (batch
``None``), so every layer's shape logic lives in its ``call``; while a saved model is rebuilt, layers with a
shape rule of their own (``compute_output_shape``) are built from shapes instead, so a file cannot make the
loader allocate activations (see :mod:`tapeflow.layers._budget`).
"""

from __future__ import annotations

from tapeflow import _backend as B
from tapeflow._nest import contains, flatten, map_structure
from tapeflow._tape import no_recording
from tapeflow._tensor import Tensor
from tapeflow.dtypes import as_dtype, floatx
from tapeflow.errors import add_note
from tapeflow.layers._budget import activation_limit, check_activation
from tapeflow.layers.shapes import map_shapes, standardize_shape


class SymbolicTensor:
    """A placeholder for data that will flow through a functional model: it knows only shape and dtype.

    Args:
        shape: the full shape, batch first (``None`` for unknown sizes).
        dtype: the dtype.
        node, index: the :class:`CallNode` that produced it and which of its outputs it is.
    """

    __slots__ = ("shape", "dtype", "node", "index", "name")

    def __init__(self, shape, dtype=None, node=None, index=0, name=None):
        self.shape = standardize_shape(shape)
        self.dtype = as_dtype(dtype) or floatx
        self.node = node
        self.index = index
        self.name = name

    @property
    def ndim(self):
        return len(self.shape)

    @classmethod
    def __tapeflow_op__(cls, op, args, params):
        """A tapeflow op applied to symbolic tensors becomes a layer of the graph (``tp.exp(h)``)."""
        from tapeflow.layers.lambda_layer import apply_op

        return apply_op(op, args, params, lambda a: isinstance(a, SymbolicTensor))

    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a placeholder with no values, so NumPy cannot use it: apply tapeflow ops "
            f"(tp.exp(x), x + 1, tp.concat([a, b], -1)) or layers to it instead"
        )

    def __getitem__(self, key):
        from tapeflow.ops import getitem

        return getitem(self, key)

    def __neg__(self):
        from tapeflow.ops import negative

        return negative(self)

    def __abs__(self):
        from tapeflow.ops import abs as abs_

        return abs_(self)

    @property
    def T(self):  # noqa: N802 - NumPy's name
        from tapeflow.ops import transpose

        return transpose(self)

    def __repr__(self):
        producer = f", produced by '{self.node.layer.name}'" if self.node is not None else ""
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype.name}{producer}>"


def _operator(name, reflected=False):
    def method(self, other):
        from tapeflow import ops

        fn = getattr(ops, name)
        return fn(other, self) if reflected else fn(self, other)

    method.__name__ = name
    return method


for _dunder, _op_name in (("add", "add"), ("sub", "subtract"), ("mul", "multiply"), ("truediv", "divide"),
                          ("floordiv", "floor_divide"), ("mod", "mod"), ("pow", "power"),
                          ("matmul", "matmul")):
    setattr(SymbolicTensor, f"__{_dunder}__", _operator(_op_name))
    setattr(SymbolicTensor, f"__r{_dunder}__", _operator(_op_name, reflected=True))
for _dunder, _op_name in (("lt", "less"), ("le", "less_equal"), ("gt", "greater"), ("ge", "greater_equal")):
    setattr(SymbolicTensor, f"__{_dunder}__", _operator(_op_name))
del _dunder, _op_name


class CallNode:
    """One call of a layer in a functional graph: its symbolic inputs, call arguments and outputs."""

    __slots__ = ("layer", "inputs", "args", "kwargs", "training", "outputs")

    def __init__(self, layer, inputs, args=(), kwargs=None, training=None):
        self.layer = layer
        self.inputs = inputs
        self.args = args
        self.kwargs = kwargs or {}
        self.training = training
        self.outputs = None

    @property
    def parent_tensors(self):
        """The symbolic tensors this call reads: from its first argument, then other positional args and
        keyword args."""
        if self.inputs is None:
            return []
        return [t for t in flatten((self.inputs, self.args, self.kwargs)) if isinstance(t, SymbolicTensor)]


def _placeholder(sym, size):
    shape = tuple(size if s is None else s for s in sym.shape)
    return B.xp.zeros(shape, dtype=sym.dtype)


def _concrete(nest, size):
    """``nest`` with every symbolic tensor replaced by placeholder zeros (``None`` sizes become ``size``)."""
    return map_structure(lambda x: _placeholder(x, size) if isinstance(x, SymbolicTensor) else x, nest)


def _shape_rule(layer):
    """Whether ``layer`` computes output shapes from shapes alone (it overrides ``compute_output_shape``,
    whose base version runs the layer on placeholders)."""
    return not getattr(type(layer).compute_output_shape, "runs_placeholders", False)


def _outputs_from_shapes(layer, inputs, leaves):
    """Build ``layer`` and find its output shapes without making any data (the loader's symbolic build)."""
    if not layer.built:
        layer._build_from(_concrete_shapes(inputs))
    shapes = layer.compute_output_shape(map_structure(lambda t: t.shape, inputs))
    return map_shapes(lambda shape: SymbolicTensor(shape, layer.dtype), shapes)


def _concrete_shapes(nest):
    """Shape-only stand-ins of the placeholders (``None`` sizes become 2) for ``build``."""
    return map_structure(
        lambda t: SymbolicTensor(tuple(2 if d is None else d for d in t.shape), t.dtype)
        if isinstance(t, SymbolicTensor) else t, nest)


def _outputs_from_placeholders(layer, inputs, args, kwargs, leaves):
    """Run ``layer`` on placeholder zeros (at batch 2, and 3 when a size may vary) and return the symbolic
    outputs: ``None`` where a size differs between the runs."""
    capped = activation_limit() is not None
    results = []
    with no_recording():
        for n in (2, 3) if any(None in t.shape[1:] for t in leaves) else (2,):
            if capped:  # rebuilding a saved model: no placeholder beyond the cap
                for t in leaves:
                    check_activation(layer, tuple(n if d is None else d for d in t.shape), t.dtype, "input")
            out = layer(_concrete(inputs, n), *_concrete(args, n), training=False, **_concrete(kwargs, n))
            if capped:
                for t in flatten(out):
                    check_activation(layer, t.shape, t.dtype, "output")
            results.append(out)
    first, other = flatten(results[0]), flatten(results[-1])
    counter = iter(range(len(first)))

    def make(out):
        i = next(counter)
        shape = [None] + list(out.shape[1:])
        for d in range(1, len(shape)):
            if other[i].shape[d] != out.shape[d]:
                shape[d] = None
        return SymbolicTensor(tuple(shape), out.dtype)

    return map_structure(make, results[0])


def symbolic_call(layer, inputs, args, kwargs, training):
    """Call ``layer`` on symbolic inputs: build it, infer output shapes, record the node.

    Symbolic tensors may appear in ``inputs`` and anywhere in ``args`` / ``kwargs``; each is replaced by
    placeholder zeros for the shape-inference call. While a saved model is rebuilt (under
    :func:`~tapeflow.layers._budget.activation_cap`), a layer with its own ``compute_output_shape`` called on
    one argument is built from shapes instead, so no activation is made.
    """
    leaves = [t for t in flatten((inputs, args, kwargs)) if isinstance(t, SymbolicTensor)]
    try:
        outputs = None
        if activation_limit() is not None and not args and not kwargs and _shape_rule(layer):
            try:
                outputs = _outputs_from_shapes(layer, inputs, leaves)
                for t in flatten(outputs):
                    check_activation(layer, t.shape, t.dtype, "output")
            except NotImplementedError:  # a rule that says the shape depends on the data: run it instead
                outputs = None
        if outputs is None:
            outputs = _outputs_from_placeholders(layer, inputs, args, kwargs, leaves)
    except Exception as e:
        # a note, not type(e)(message): the exception keeps its type, arguments and traceback
        # (rebuilding it breaks every exception whose constructor takes other arguments)
        add_note(e, f"(while calling layer '{layer.name}' on symbolic inputs {[t.shape for t in leaves]})")
        raise
    node = CallNode(layer, inputs, args, kwargs, training)
    for i, t in enumerate(flatten(outputs)):
        t.node, t.index = node, i
    node.outputs = outputs
    layer._inbound_nodes.append(node)
    layer._output_shape = map_structure(lambda t: t.shape, node.outputs)
    return node.outputs


def is_symbolic(x) -> bool:
    """Whether ``x`` (a call's inputs, or its other arguments) holds a :class:`SymbolicTensor`."""
    return not isinstance(x, Tensor) and contains(x, SymbolicTensor)
