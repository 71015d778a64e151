"""``tp.Sequential``: a plain stack of layers, each feeding the next."""

from __future__ import annotations

from tapeflow.layers.base import Layer, bump_structure_version
from tapeflow.layers.input import InputLayer
from tapeflow.layers.serialization import deserialize, register_serializable, serialize
from tapeflow.layers.shapes import standardize_shape
from tapeflow.layers.symbolic import SymbolicTensor
from tapeflow.models.model import Model


@register_serializable
class Sequential(Model):
    """A linear stack of layers.

    Give the input shape with ``tp.Input(shape=...)`` / ``InputLayer`` as the first entry, or
    ``input_shape=`` on
    the first layer, to build it at once (then ``summary()`` works before training); otherwise it builds on
    the first batch it sees.

    Args:
        layers: the layers, in order.
        name: the model's name.

    Example:
        >>> import tapeflow as tp
        >>> model = tp.Sequential([
        ...     tp.Input(shape=(784,)),
        ...     tp.layers.Dense(512, activation="relu"),
        ...     tp.layers.Dense(10, activation="softmax"),
        ... ])
        >>> model.output_shape, model.count_params()
        ((None, 10), 407050)
    """

    def __init__(self, layers=None, name=None, trainable=True, dtype=None):
        super().__init__(name=name, trainable=trainable, dtype=dtype)
        self._layers = []
        self._symbolic_output = None
        self._input_layer = None
        for layer in layers or []:
            self.add(layer)

    @property
    def layers(self):
        """The layers, in order (without the input layer)."""
        return list(self._layers)

    def add(self, layer):
        """Append a layer (or set the input shape with ``tp.Input`` / ``InputLayer``).

        Raises:
            TypeError: for something that is not a layer.
        """
        if isinstance(layer, SymbolicTensor):
            if layer.node is None or not isinstance(layer.node.layer, InputLayer):
                raise TypeError(
                    "Sequential.add: a symbolic tensor is accepted only straight from tp.Input(...)"
                )
            layer = layer.node.layer
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Sequential.add: expected a layer. Received: {layer!r} of type {type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError("Sequential.add: an input layer must come first")
            self._batch_input_shape = layer._batch_input_shape
            self._input_layer = layer
            self._start_graph()
            return
        if not self._layers and self._batch_input_shape is None and layer._batch_input_shape is not None:
            self._batch_input_shape = layer._batch_input_shape
            self._layers.append(layer)
            bump_structure_version()
            self._start_graph()
            return
        self._layers.append(layer)
        bump_structure_version()
        if self._symbolic_output is not None:
            self._symbolic_output = layer(self._symbolic_output)
            self._output_shape = self._symbolic_output.shape

    def pop(self):
        """Remove the last layer and return it."""
        if not self._layers:
            raise IndexError("Sequential.pop: there are no layers")
        layer = self._layers.pop()
        bump_structure_version()
        self._start_graph() if self._batch_input_shape is not None else None
        return layer

    def _start_graph(self):
        inp = self._input_layer
        if inp is None or inp._batch_input_shape != self._batch_input_shape:
            inp = self._input_layer = InputLayer(batch_input_shape=self._batch_input_shape, dtype=self.dtype)
        x = inp.output
        for layer in self._layers:
            x = layer(x)
        self._symbolic_output = x
        self._build_input_shape = self._batch_input_shape
        self._output_shape = x.shape
        self.built = True

    @property
    def inputs(self):
        """``[the symbolic input]`` once the input shape is known (for feature extraction)."""
        if self._input_layer is None:
            raise AttributeError(f"Sequential model '{self.name}' has no input yet: give its input shape")
        return [self._input_layer.output]

    @property
    def outputs(self):
        """``[the symbolic output]`` once the input shape is known."""
        if self._symbolic_output is None:
            raise AttributeError(f"Sequential model '{self.name}' has no output yet: give its input shape")
        return [self._symbolic_output]

    def build(self, input_shape=None):
        """Build every layer for inputs of ``input_shape`` (batch first, ``None`` allowed)."""
        shape = standardize_shape(input_shape) if input_shape is not None else self._batch_input_shape
        if shape is None:
            raise ValueError("Sequential.build: give the input shape, e.g. model.build((None, 784))")
        self._batch_input_shape = shape
        self._start_graph()

    def _build_from(self, inputs):
        if isinstance(inputs, Layer) or not hasattr(inputs, "shape"):
            return super()._build_from(inputs)
        self._batch_input_shape = (None, *inputs.shape[1:])
        self._start_graph()

    def call(self, inputs, training=None):
        x = inputs
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": self.dtype.name,
            "layers": [serialize(layer) for layer in self._layers],
        }
        if self._batch_input_shape is not None:
            config["build_input_shape"] = list(self._batch_input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layers = [deserialize(c) for c in config.pop("layers", [])]
        shape = config.pop("build_input_shape", None)
        model = cls(**config)
        if shape is not None:
            model._batch_input_shape = standardize_shape(shape)
        for layer in layers:
            model._layers.append(layer)
        bump_structure_version()
        if shape is not None:
            model._start_graph()
        return model
