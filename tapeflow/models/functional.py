"""Functional models: ``tp.Model(inputs, outputs)`` over a graph of layer calls on ``tp.Input`` placeholders.

The graph is the :class:`~tapeflow.layers.input.CallNode` records that calling layers on symbolic tensors left
behind; the model keeps them in topological order (found with an explicit stack, no recursion) and replays
them on real data. Several inputs and outputs (lists or dicts) and shared layers are supported.
"""

from __future__ import annotations

import heapq

from tapeflow._nest import flatten, map_structure
from tapeflow.errors import ShapeError
from tapeflow.layers.input import InputLayer
from tapeflow.layers.serialization import deserialize, register_serializable, serialize
from tapeflow.layers.symbolic import SymbolicTensor
from tapeflow.models.model import Model


def _topological_nodes(outputs):
    """The CallNodes producing ``outputs``, inputs first (iterative depth-first search)."""
    order, state = [], {}
    stack = [(t.node, False) for t in reversed(outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            if state.get(id(node)) != 2:
                state[id(node)] = 2
                order.append(node)
            continue
        if state.get(id(node)):
            continue
        state[id(node)] = 1
        stack.append((node, True))
        for t in reversed(node.parent_tensors):
            if state.get(id(t.node)) is None:
                stack.append((t.node, False))
    return order


@register_serializable
class Functional(Model):
    """A model defined by its inputs and outputs: ``tp.Model(inputs=..., outputs=...)``.

    Args:
        inputs: a ``tp.Input`` tensor, or a list / dict of them.
        outputs: symbolic tensors computed from the inputs, or a list / dict of them.
        name: the model's name.

    Raises:
        ValueError: when an output depends on an input that was not given ("graph disconnected").

    Example:
        >>> import tapeflow as tp
        >>> a, b = tp.Input(shape=(3,)), tp.Input(shape=(2,))
        >>> h = tp.layers.Concatenate()([a, b])
        >>> out1, out2 = tp.layers.Dense(1, name="score")(h), tp.layers.Dense(4, name="kind")(h)
        >>> model = tp.Model(inputs=[a, b], outputs=[out1, out2])
        >>> [o.shape for o in model([tp.ones((5, 3)), tp.ones((5, 2))])]
        [(5, 1), (5, 4)]
    """

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        for t in flat_in:
            if not isinstance(t, SymbolicTensor) or not isinstance(t.node.layer, InputLayer):
                raise TypeError(f"Model inputs must come from tp.Input(...). Received: {t!r}")
        for t in flat_out:
            if not isinstance(t, SymbolicTensor):
                raise TypeError(
                    f"Model outputs must be symbolic tensors computed from the inputs. Received: {t!r}"
                )
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self._flat_inputs, self._flat_outputs = flat_in, flat_out
        nodes = _topological_nodes(flat_out)
        given = {id(t) for t in flat_in}
        for node in nodes:
            if isinstance(node.layer, InputLayer) and id(node.outputs) not in given:
                raise ValueError(
                    f"Graph disconnected: the outputs depend on input '{node.layer.name}' "
                    f"{node.outputs.shape}, which is not among the model's inputs "
                    f"{[t.node.layer.name for t in flat_in]}"
                )
        self._nodes = [n for n in nodes if not isinstance(n.layer, InputLayer)]
        graph_layers = [t.node.layer for t in flat_in]
        seen = {id(layer) for layer in graph_layers}
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                graph_layers.append(node.layer)
        self._graph_layers = graph_layers
        self._output_names = (
            [t.node.layer.name for t in flat_out] if not isinstance(outputs, dict) else list(outputs)
        )
        self.input_names = [t.node.layer.name for t in flat_in]
        self._build_input_shape = map_structure(lambda t: t.shape, inputs)
        self._output_shape = map_structure(lambda t: t.shape, outputs)
        self.built = True

    @property
    def layers(self):
        """Every layer of the graph, inputs first, in the order they are called."""
        return list(self._graph_layers)

    @property
    def inputs(self):
        return list(self._flat_inputs)

    @property
    def outputs(self):
        return list(self._flat_outputs)

    def _build_from(self, inputs):
        self.built = True

    def _match_inputs(self, inputs):
        if isinstance(self._inputs_struct, dict):
            if not isinstance(inputs, dict):
                raise TypeError(f"Model '{self.name}' takes a dict of inputs {sorted(self._inputs_struct)}")
            missing = [k for k in self._inputs_struct if k not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}': missing inputs {missing}; received keys {sorted(inputs)}"
                )
            values = [inputs[k] for k in self._inputs_struct]
        elif isinstance(inputs, dict):
            values = []
            for t in self._flat_inputs:
                if t.node.layer.name not in inputs:
                    raise ValueError(
                        f"Model '{self.name}': missing input '{t.node.layer.name}'; received keys "
                        f"{sorted(inputs)}"
                    )
                values.append(inputs[t.node.layer.name])
        else:
            values = (
                list(inputs) if isinstance(inputs, (list, tuple)) and len(self._flat_inputs) > 1 else [inputs]
            )
        if len(values) != len(self._flat_inputs):
            raise ValueError(
                f"Model '{self.name}' expects {len(self._flat_inputs)} inputs; received {len(values)}"
            )
        for i, (sym, v) in enumerate(zip(self._flat_inputs, values)):
            shape = tuple(v.shape)
            if len(shape) != len(sym.shape) or any(
                s is not None and s != d for s, d in zip(sym.shape, shape)
            ):
                raise ShapeError(
                    f"Input {i} ('{sym.node.layer.name}') of model '{self.name}' expects shape "
                    f"{sym.shape}; received input shape {shape}"
                )
        return values

    def call(self, inputs, training=None):
        values = {}
        for sym, v in zip(self._flat_inputs, self._match_inputs(inputs)):
            values[id(sym)] = v

        def feed(x):
            return map_structure(lambda t: values[id(t)] if isinstance(t, SymbolicTensor) else t, x)

        for node in self._nodes:
            out = node.layer(
                feed(node.inputs),
                *feed(node.args),
                training=node.training if node.training is not None else training,
                **feed(node.kwargs),
            )
            for sym, val in zip(flatten(node.outputs), flatten(out)):
                values[id(sym)] = val
        return map_structure(lambda t: values[id(t)], self._outputs_struct)

    # --- config ---------------------------------------------------------------------------------------------
    def get_config(self):
        node_index = {}  # id(node) -> (layer name, index among that layer's nodes in this model)
        per_layer = {}
        for t in self._flat_inputs:
            node_index[id(t.node)] = (t.node.layer.name, 0)
        for node in self._nodes:
            k = per_layer.get(id(node.layer), 0)
            per_layer[id(node.layer)] = k + 1
            node_index[id(node)] = (node.layer.name, k)

        def ref(t):
            if not isinstance(t, SymbolicTensor):
                raise TypeError(f"get_config: a non-tensor argument {t!r} in the graph cannot be serialized")
            name, k = node_index[id(t.node)]
            return [name, k, t.index]

        def refs_in(x):  # other arguments: symbolic tensors become references, the rest stays as given
            return map_structure(lambda t: ref(t) if isinstance(t, SymbolicTensor) else t, x)

        calls = {}  # id(layer) -> its nodes in this model, in order
        for node in self._nodes:
            calls.setdefault(id(node.layer), []).append(node)
        layers = []
        for layer in self._graph_layers:
            nodes = calls.get(id(layer), [])
            layers.append(
                {
                    **serialize(layer),
                    "name": layer.name,
                    "inbound_nodes": [_node_config(n, ref, refs_in) for n in nodes],
                }
            )
        return {
            "name": self.name,
            "trainable": self.trainable,
            "layers": layers,
            "input_layers": _struct_refs(self._inputs_struct, ref),
            "output_layers": _struct_refs(self._outputs_struct, ref),
        }

    @classmethod
    def from_config(cls, config):
        layers = {}
        pending = []
        for spec in config["layers"]:
            layer = deserialize({"class_name": spec["class_name"], "config": spec["config"]})
            layers[spec["name"]] = layer
            for k, node in enumerate(spec["inbound_nodes"]):
                pending.append((spec["name"], k, node))
        produced = {}  # (layer name, node index) -> outputs
        for name, layer in layers.items():
            if isinstance(layer, InputLayer):
                produced[(name, 0)] = layer.output
        # connect in linear time whatever the order of the list: each call waits on a count of the outputs
        # it still needs; ready calls run lowest list position first (an ordered list runs in its order)
        waiting = {}  # (layer name, node index) not produced yet -> positions of the calls that need it
        missing = []
        ready = []
        for i, (name, k, node) in enumerate(pending):
            parts = (node["args"], node.get("call_args", []), node.get("kwargs", {}))
            if not isinstance(parts[1], list) or not isinstance(parts[2], dict):
                raise ValueError(
                    f"from_config: layer '{name}' call {k}: `call_args` must be a list and `kwargs` a "
                    f"dict. Received: call_args={parts[1]!r}, kwargs={parts[2]!r}"
                )
            needs = {(r[0], r[1]) for r in _ref_leaves(parts)} - set(produced)
            for key in needs:
                waiting.setdefault(key, []).append(i)
            missing.append(len(needs))
            if not needs:
                heapq.heappush(ready, i)
        done = 0
        while ready:
            i = heapq.heappop(ready)
            name, k, node = pending[i]
            inputs, args, kwargs = _resolve((node["args"], node.get("call_args", []), node.get("kwargs", {})),
                                            produced)
            produced[(name, k)] = layers[name](inputs, *args, training=node.get("training"), **kwargs)
            done += 1
            for j in waiting.pop((name, k), ()):
                missing[j] -= 1
                if missing[j] == 0:
                    heapq.heappush(ready, j)
        if done < len(pending):
            raise ValueError(
                f"from_config: cannot connect layers {[p[0] for j, p in enumerate(pending) if missing[j]]}: "
                f"their inputs are never produced"
            )
        return cls(
            _resolve(config["input_layers"], produced),
            _resolve(config["output_layers"], produced),
            name=config.get("name"),
            trainable=config.get("trainable", True),
        )


def _node_config(node, ref, refs_in):
    """One call's entry in ``inbound_nodes``.

    ``args`` holds the first argument's references, ``call_args`` the other positional arguments (only when
    there are some) and ``kwargs`` the keyword arguments, with references where symbolic tensors were.
    """
    config = {"args": map_structure(ref, node.inputs)}
    if node.args:
        config["call_args"] = refs_in(list(node.args))
    config["kwargs"] = refs_in(node.kwargs)
    config["training"] = node.training
    return config


def _struct_refs(struct, ref):
    return map_structure(ref, struct)


def _is_ref(x):
    return isinstance(x, list) and len(x) == 3 and isinstance(x[0], str) and isinstance(x[1], int)


def _ref_leaves(x):
    out, stack = [], [x]
    while stack:
        a = stack.pop()
        if _is_ref(a):
            out.append(a)
        elif isinstance(a, dict):
            stack.extend(a.values())
        elif isinstance(a, (list, tuple)):
            stack.extend(a)
    return out


def _resolve(x, produced):
    if _is_ref(x):
        out = produced[(x[0], x[1])]
        return flatten(out)[x[2]] if not isinstance(out, SymbolicTensor) else out
    if isinstance(x, dict):
        return {k: _resolve(v, produced) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_resolve(v, produced) for v in x]
    return x
