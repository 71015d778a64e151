"""The ``Layer`` base class: lazily built weights, sub-layer tracking, the training flag, configs.

A layer is ``build(input_shape)`` (create weights with :meth:`Layer.add_weight`, once the first input's
shape is known) plus ``call(inputs, training=None)``. Layers and Variables assigned as attributes (also inside
lists, tuples and dicts) are tracked, so ``weights`` of a model lists every weight of every layer it holds.
Beside it: names (:mod:`.naming`), JSON configs (:mod:`.serialization`), shapes (:mod:`.shapes`) and the
symbolic calls of the functional API (:mod:`.symbolic`).
"""

from __future__ import annotations

import functools
import inspect
import itertools
import threading

import numpy as np

from tapeflow import _backend as B
from tapeflow import constraints as _constraints
from tapeflow import initializers as _initializers
from tapeflow import regularizers as _regularizers
from tapeflow._nest import contains, flatten, map_structure
from tapeflow._tape import no_recording
from tapeflow._tensor import Tensor, Variable
from tapeflow.dtypes import as_dtype, floatx, is_floating
from tapeflow.errors import ShapeError
from tapeflow.layers import _budget
from tapeflow.layers._masks import get_mask, incoming_mask, set_mask
from tapeflow.layers.naming import clear_session, snake_case, unique_name
from tapeflow.layers.serialization import (
    custom_objects_in_scope,
    deserialize,
    get_registered,
    register_serializable,
    serialize,
)
from tapeflow.layers.shapes import is_shape, map_shapes, standardize_shape
from tapeflow.layers.symbolic import SymbolicTensor, is_symbolic, symbolic_call

# Names that lived here before the split, still imported from here by some code (one definition each, above).
__all__ = [
    "Layer", "in_training", "bump_structure_version", "clear_session", "snake_case", "unique_name",
    "custom_objects_in_scope", "deserialize", "get_registered", "register_serializable", "serialize",
    "is_shape", "map_shapes", "standardize_shape", "flatten", "map_structure",
]


# --- the training flag flows from an outer call to the layers it calls -------------------------------------
class _CallContext(threading.local):
    def __init__(self):
        self.training = None


_context = _CallContext()


# --- what a layer holds ------------------------------------------------------------------------------------
# Every change to what layers hold (a layer, Variable or container assigned, a weight added, `trainable`
# flipped) bumps this version; the walks over sub-layers and weights are cached per layer until it changes.
_VERSION = [0]
_VERSIONS = itertools.count(1)  # next() is atomic, where `_VERSION[0] += 1` could lose a bump to a thread


def bump_structure_version():
    """Invalidate the cached layer and weight lists (call after mutating a tracked list in place)."""
    _VERSION[0] = next(_VERSIONS)


def _structural(value) -> bool:
    return contains(value, (Layer, Variable))


def _plain_numbers(x) -> bool:
    """True for a (nested) list of Python numbers: one array, not a list of inputs."""
    return isinstance(x, (list, tuple)) and all(isinstance(a, (int, float, bool)) for a in flatten(x))


def _shape_of(x):
    return tuple(x.shape)


# --- the Layer ----------------------------------------------------------------------------------------------
# Held while a layer builds, so a layer called from several threads at once builds once. One lock for all
# layers, reentrant: a model builds its layers inside its own build, and two models sharing layers cannot
# deadlock on each other's locks. It is taken only while something is unbuilt.
_BUILD_LOCK = threading.RLock()


def _marking_built(build):
    """Wrap a subclass's ``build`` so that calling it by hand marks the layer built (as Keras does)."""

    @functools.wraps(build)
    def wrapper(self, input_shape):
        with _BUILD_LOCK:
            result = build(self, input_shape)
            self.__dict__["built"] = True
            if self._build_input_shape is None:
                self._build_input_shape = input_shape
        return result

    wrapper._marks_built = True
    return wrapper


class Layer:
    """Base class of every layer and model.

    Subclasses implement ``build(input_shape)`` (optional: create weights with :meth:`add_weight`) and
    ``call(inputs, training=None)``. Calling a layer converts NumPy inputs to Tensors, casts float inputs to
    the layer's ``dtype``, builds the layer on its first input, and passes ``training`` on to the layers it
    calls.

    Args:
        trainable: whether its weights are trained (``trainable_weights``) or frozen.
        name: a unique name (default: the class name in snake case, numbered: ``dense``, ``dense_1``).
        dtype: the dtype of its weights and computations (default float32).
        input_shape: the shape of one sample, letting a ``Sequential`` model build before it sees data.

    Example:
        >>> import tapeflow as tp
        >>> class Scale(tp.layers.Layer):
        ...     def build(self, input_shape):
        ...         self.w = self.add_weight("w", (input_shape[-1],), initializer="ones")
        ...     def call(self, x):
        ...         return x * self.w
        >>> layer = Scale(name="scale")
        >>> layer([[1.0, 2.0]])
        tapeflow.Tensor(
        [[1. 2.]], shape=(1, 2), dtype=float32)
        >>> [w.name for w in layer.weights]
        ['scale/w']
    """

    _cast_ints = True  # integer inputs become the layer's float dtype (Embedding keeps them as indices)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        build = cls.__dict__.get("build")
        if build is not None and not getattr(build, "_marks_built", False):
            cls.build = _marking_built(build)

    def __init__(
        self,
        trainable=True,
        name=None,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        batch_size=None,
        **kwargs,
    ):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        d = self.__dict__
        d["_own_weights"] = []
        d["_regularized"] = []
        d["_added_losses"] = []
        d["_constraints"] = []
        d["built"] = False
        d["trainable"] = bool(trainable)
        self.name = name if name is not None else unique_name(snake_case(type(self).__name__))
        dtype = as_dtype(dtype) or floatx
        self.dtype = dtype
        self._build_input_shape = None
        self._output_shape = None
        self._inbound_nodes = []
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is None and input_shape is not None:
            batch_input_shape = (batch_size, *standardize_shape(input_shape))
        self._batch_input_shape = standardize_shape(batch_input_shape)

    # --- tracking -------------------------------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_own_weights" not in self.__dict__ and not name.startswith("__"):
            raise RuntimeError(
                f"{type(self).__name__}: call super().__init__() in __init__ before assigning attributes"
            )
        object.__setattr__(self, name, value)
        if name == "trainable" or _structural(value):
            _VERSION[0] = next(_VERSIONS)

    def _tracked_children(self):
        """Layers and Variables held in attributes (and in lists/tuples/dicts there), in assignment order."""
        cache = self.__dict__.get("_children_cache")
        if cache is not None and cache[0] == _VERSION[0]:
            return cache[1], cache[2]
        layers, variables = [], []
        for key, value in self.__dict__.items():
            if key.startswith("_") and key not in ("_layers", "_graph_layers"):
                continue
            stack = [value]
            while stack:
                v = stack.pop()
                if isinstance(v, Layer):
                    if v is not self:
                        layers.append(v)
                elif isinstance(v, Variable):
                    variables.append(v)
                elif isinstance(v, (list, tuple)):
                    stack.extend(reversed(v))
                elif isinstance(v, dict) and key != "__dict__":
                    stack.extend(reversed(list(v.values())))
        self.__dict__["_children_cache"] = (_VERSION[0], layers, variables)
        return layers, variables

    def _flatten_layers(self, include_self=True, trainable_only=False):
        """Every layer reachable from this one, depth first, each once (iterative: no recursion)."""
        key = ("layers", include_self, trainable_only)
        cache = self.__dict__.setdefault("_walk_cache", {})
        hit = cache.get(key)
        if hit is not None and hit[0] == _VERSION[0]:
            return list(hit[1])
        out, seen = [], set()
        stack = [self]
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            if trainable_only and not layer.trainable:
                continue
            if layer is not self or include_self:
                out.append(layer)
            stack.extend(reversed(layer._tracked_children()[0]))
        cache[key] = (_VERSION[0], out)
        return list(out)

    def _collect_weights(self, trainable_only=False):
        key = ("weights", trainable_only)
        cache = self.__dict__.setdefault("_walk_cache", {})
        hit = cache.get(key)
        if hit is not None and hit[0] == _VERSION[0]:
            return list(hit[1])
        out, seen = [], set()
        for layer in self._flatten_layers(trainable_only=trainable_only):
            for v in (*layer._own_weights, *layer._tracked_children()[1]):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        cache[key] = (_VERSION[0], out)
        return list(out)

    @property
    def layers(self):
        """The layers this layer holds directly (not itself)."""
        return self._tracked_children()[0]

    @property
    def weights(self):
        """Every Variable of this layer and its sub-layers (trainable first within each layer)."""
        return self._collect_weights()

    variables = weights

    @property
    def trainable_weights(self):
        """The Variables an optimizer updates: trainable ones in trainable layers."""
        if not self.trainable:
            return []
        return [v for v in self._collect_weights(trainable_only=True) if v.trainable]

    trainable_variables = trainable_weights

    @property
    def non_trainable_weights(self):
        """The Variables not updated by optimizers (frozen layers, BatchNormalization's moving statistics)."""
        trainable = {id(v) for v in self.trainable_weights}
        return [v for v in self._collect_weights() if id(v) not in trainable]

    non_trainable_variables = non_trainable_weights

    def count_params(self) -> int:
        """The number of scalars in all weights.

        Raises:
            ValueError: when the layer is not built yet (it does not know its input shape).
        """
        if not self.built:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) is not built yet, so it has no weights to "
                f"count: "
                f"call it on data, or give its input shape (an Input, `input_shape=`, or build(input_shape))."
            )
        return int(sum(v.size for v in self.weights))

    # --- weights --------------------------------------------------------------------------------------------
    def add_weight(
        self,
        name=None,
        shape=None,
        initializer=None,
        dtype=None,
        trainable=True,
        regularizer=None,
        constraint=None,
    ):
        """Create a Variable owned by this layer.

        Args:
            name: the weight's name (the Variable is named ``"<layer>/<name>"``).
            shape: its shape.
            initializer: a name, an initializer, or a callable ``(shape, dtype) -> array``
                (default: ``glorot_uniform`` for floats, zeros otherwise).
            dtype: default the layer's dtype.
            trainable: whether optimizers update it.
            regularizer: a penalty on it added to :attr:`losses`.
            constraint: a projection applied to the value after each optimizer update: a name
                (``"non_neg"``, ``"max_norm"``, ...), a config or a callable (see ``tp.constraints``).

        Returns:
            The new :class:`~tapeflow.Variable`.
        """
        shape = tuple(int(s) for s in (shape or ()))
        dtype = as_dtype(dtype) or self.dtype
        _budget.charge(self, name, shape, dtype)  # a cap only while tapeflow.saving rebuilds a loaded model
        if initializer is None:
            initializer = "glorot_uniform" if is_floating(dtype) else "zeros"
        init = _initializers.get(initializer)
        value = B.xp.asarray(init(shape, dtype=dtype)).astype(dtype, copy=False)
        var = Variable(value, trainable=trainable, name=f"{self.name}/{name or 'weight'}")
        self._own_weights.append(var)
        _VERSION[0] = next(_VERSIONS)
        constraint = _constraints.get(constraint)
        if constraint is not None:
            self._constraints.append((var, constraint))
        reg = _regularizers.get(regularizer)
        if reg is not None:
            self._regularized.append((var, reg))
        return var

    def get_weights(self) -> list:
        """The weights' values as NumPy arrays (copies), in :attr:`weights` order."""
        return [np.array(B.to_numpy(v._value), copy=True) for v in self.weights]

    def set_weights(self, weights):
        """Set every weight from a list of arrays in :attr:`weights` order.

        Raises:
            ValueError: when the number of arrays or any shape does not match.
        """
        mine = self.weights
        weights = list(weights)
        if len(weights) != len(mine):
            raise ValueError(
                f"set_weights: layer '{self.name}' has {len(mine)} weights, but {len(weights)} arrays were "
                f"given"
            )
        for v, w in zip(mine, weights):
            arr = B.xp.asarray(w)
            if tuple(arr.shape) != v.shape:
                raise ShapeError(
                    f"set_weights: weight '{v.name}' has shape {v.shape}; the array given has shape "
                    f"{arr.shape}"
                )
        for v, w in zip(mine, weights):
            v.assign(w)

    def _apply_constraints(self):
        """Project constrained weights back onto their sets (run after each optimizer update)."""
        for layer in self._flatten_layers():
            for var, fn in layer._constraints:
                var.assign(fn(var))

    # --- losses ---------------------------------------------------------------------------------------------
    def add_loss(self, loss):
        """Add a scalar loss (computed in ``call``) to the training loss of the model holding this layer."""
        self._added_losses.append(loss)

    @property
    def losses(self) -> list:
        """Regularization penalties of every weight, and losses added in the last call (scalar tensors)."""
        out = []
        for layer in self._flatten_layers():
            out.extend(reg(var) for var, reg in layer._regularized)
            out.extend(layer._added_losses)
        return out

    # --- building and calling -------------------------------------------------------------------------------
    def build(self, input_shape):
        """Create the weights for inputs of ``input_shape`` (override; the base creates none)."""
        self.built = True

    def call(self, inputs, *args, **kwargs):
        """The computation (override)."""
        return inputs

    #: whether the layer passes its input's timestep mask on unchanged (see :meth:`compute_mask`)
    supports_masking = False

    def compute_mask(self, inputs, mask=None):
        """The timestep mask of the output, given the input's ``mask`` (Keras's rule).

        The base passes ``mask`` on when ``supports_masking`` is true and the input is one tensor, and
        drops it otherwise; layers that change the time axis or merge several inputs override this. A layer
        that sets its output's mask itself (with ``tp.layers.set_mask``) is left as it is.

        Example:
            >>> import tapeflow as tp
            >>> x = tp.layers.Embedding(10, 4, mask_zero=True)(tp.constant([[3, 1, 0]]))
            >>> tp.layers.get_mask(tp.layers.Dropout(0.1)(x))
            array([[ True,  True, False]])
            >>> tp.layers.get_mask(tp.layers.Flatten()(x)) is None
            True
        """
        if self.supports_masking and not isinstance(mask, list):
            return mask
        return None

    def compute_output_shape(self, input_shape):
        """The output shape for ``input_shape`` (found by running the layer on placeholder data)."""
        sym = map_shapes(
            lambda s: SymbolicTensor(s, self.dtype),
            standardize_shape(input_shape) if is_shape(tuple(input_shape)) else input_shape,
        )
        return map_structure(lambda t: t.shape, self(sym))

    compute_output_shape.runs_placeholders = True  # the symbolic call tells this base rule from a layer's own

    def _call_accepts(self, name):
        cls = type(self)
        cache = cls.__dict__.get("_call_args_cache")
        if cache is None:
            params = inspect.signature(cls.call).parameters
            cache = set(params) | ({"**"} if any(p.kind == p.VAR_KEYWORD for p in params.values()) else set())
            cls._call_args_cache = cache
        return name in cache or "**" in cache

    def _convert(self, x):
        if isinstance(x, Tensor):
            t = x
        else:
            t = Tensor(x)
        if t.dtype != self.dtype and is_floating(self.dtype) and (self._cast_ints or is_floating(t.dtype)):
            from tapeflow.ops import cast

            t = cast(t, self.dtype)
        return t

    def __call__(self, inputs, *args, training=None, **kwargs):
        if is_symbolic(inputs) or ((args or kwargs) and is_symbolic((args, kwargs))):
            return symbolic_call(self, inputs, args, kwargs, training)
        if isinstance(inputs, (list, tuple, dict)) and not _plain_numbers(inputs):
            inputs = map_structure(self._convert, inputs)
        else:
            inputs = self._convert(inputs)
        if self._added_losses:
            self._added_losses.clear()
        mask = incoming_mask(inputs)
        if not self.built:
            with _BUILD_LOCK:  # several threads may call an unbuilt layer at once: one of them builds it
                if not self.built:
                    self._build_from(inputs)
        outer = _context.training
        if training is None:
            training = outer
        if self._call_accepts("training"):
            kwargs["training"] = training
        _context.training = training
        try:
            outputs = self.call(inputs, *args, **kwargs)
        finally:
            _context.training = outer
        if mask is not None and isinstance(outputs, Tensor) and get_mask(outputs) is None:
            out_mask = self.compute_mask(inputs, mask)
            if out_mask is not None:
                set_mask(outputs, out_mask)
        if self._output_shape is None:
            self._output_shape = map_structure(lambda t: (None, *t.shape[1:]), outputs)
        return outputs

    def _build_from(self, inputs):
        shapes = map_structure(_shape_of, inputs)
        self._build_input_shape = map_shapes(lambda s: (None, *s[1:]), shapes)
        with no_recording():
            self.build(shapes)
        self.built = True

    # --- errors ---------------------------------------------------------------------------------------------
    def _shape_error(self, what, expected, received):
        return ShapeError(
            f"Layer '{self.name}' ({type(self).__name__}): {what}; expected {expected}, received input shape "
            f"{tuple(received)}"
        )

    # --- config ---------------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments as JSON data (extend in subclasses)."""
        config = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._batch_input_shape is not None:
            config["batch_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        """Build a layer from :meth:`get_config`'s output."""
        return cls(**config)

    @property
    def input_shape(self):
        """The shape (batch ``None``) the layer was built for."""
        if self._build_input_shape is None:
            raise AttributeError(f"Layer '{self.name}' is not built yet, so it has no input shape")
        return self._build_input_shape

    @property
    def output_shape(self):
        """The shape (batch ``None``) of its output, once it has been called."""
        if self._output_shape is None:
            raise AttributeError(f"Layer '{self.name}' has not been called yet, so it has no output shape")
        return self._output_shape

    def _last_node(self, what):
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic input (tp.Input), so it has no "
                f"{what}"
            )
        return self._inbound_nodes[-1]

    @property
    def input(self):
        """The symbolic input of this layer in the functional graph it was last called in (for feature
        extraction: ``tp.Model(model.input, model.get_layer("h").output)``)."""
        node = self._last_node("input")
        return node.outputs if node.inputs is None else node.inputs

    @property
    def output(self):
        """The symbolic output of this layer's last call on symbolic inputs."""
        return self._last_node("output").outputs

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def in_training(training):
    """``training`` if given, else the flag of the enclosing layer call (False outside any)."""
    return bool(_context.training if training is None else training)
