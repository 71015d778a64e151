"""``tp.Input`` and ``InputLayer``: the entry points of a functional model (the symbolic tensors they return
are in :mod:`tapeflow.layers.symbolic`)."""

from __future__ import annotations

from tapeflow.layers.base import Layer
from tapeflow.layers.serialization import register_serializable
from tapeflow.layers.shapes import standardize_shape
from tapeflow.layers.symbolic import CallNode, SymbolicTensor


@register_serializable
class InputLayer(Layer):
    """The entry point of a functional model: holds the input's shape and dtype, passes data through.

    Args:
        shape: the shape of one sample (no batch dimension); ``None`` for a size that may vary.
        batch_size: a fixed batch size (usually left None).
        dtype: the input dtype (default float32; use an int type for :class:`Embedding` inputs).
        name: the layer's name.

    Example:
        >>> import tapeflow as tp
        >>> tp.layers.InputLayer(shape=(3,), name="features").output
        <SymbolicTensor shape=(None, 3), dtype=float32, produced by 'features'>
    """

    def __init__(
        self,
        shape=None,
        batch_size=None,
        dtype=None,
        name=None,
        input_shape=None,
        batch_input_shape=None,
        **kwargs,
    ):
        if shape is None:
            shape = input_shape
        if batch_input_shape is not None:
            batch_size, shape = batch_input_shape[0], batch_input_shape[1:]
        if shape is None:
            raise ValueError("InputLayer needs the shape of one sample. Received: shape=None")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self._batch_input_shape = standardize_shape((batch_size, *standardize_shape(shape)))
        self._build_input_shape = self._batch_input_shape
        self.built = True
        node = CallNode(self, None)
        node.outputs = SymbolicTensor(self._batch_input_shape, self.dtype, node, 0, name=self.name)
        self._inbound_nodes.append(node)
        self._output_shape = self._batch_input_shape

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {
            "batch_input_shape": list(self._batch_input_shape),
            "dtype": self.dtype.name,
            "name": self.name,
        }


def Input(shape=None, batch_size=None, dtype=None, name=None):  # noqa: N802 - Keras's name
    """A symbolic input for the functional API.

    Args:
        shape: the shape of one sample, without the batch dimension.
        batch_size: an optional fixed batch size.
        dtype: default float32.
        name: the input's name.

    Returns:
        A :class:`SymbolicTensor` of shape ``(batch_size, *shape)``.

    Example:
        >>> import tapeflow as tp
        >>> x = tp.Input(shape=(784,))
        >>> y = tp.layers.Dense(10)(x)
        >>> y.shape
        (None, 10)
    """
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name).output
