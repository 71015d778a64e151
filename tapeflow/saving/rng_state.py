"""Random-generator state for exact resumption: the global generator and each layer's private one.

Layers made with ``seed=`` (Dropout, recurrent dropout, attention dropout) draw from a private generator that
advances as they train; saving and restoring its state makes training after a load draw the same masks an
uninterrupted run would.

Example:
    >>> import tapeflow as tp
    >>> from tapeflow.saving import rng_state
    >>> model = tp.Sequential([tp.layers.Dropout(0.5, seed=1, input_shape=(2,))])
    >>> sorted(rng_state.capture(model))
    ['global', 'layers', 'seed']
"""

from __future__ import annotations

import numpy as np

from tapeflow.saving.errors import FileFormatError


def _all_layers(model) -> list:
    """Every layer under ``model`` in a fixed depth-first order (iterative; each layer once)."""
    out, seen, stack = [], set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        out.append(layer)
        stack.extend(reversed(layer.layers))
    return out


def capture(model) -> dict:
    """The global generator's state and that of every layer with a private generator (JSON data)."""
    from tapeflow import random

    layers = {}
    for i, layer in enumerate(_all_layers(model)):
        rng = getattr(layer, "_rng", None)
        if isinstance(rng, np.random.Generator):
            layers[str(i)] = {"class_name": type(layer).__name__, "state": rng.bit_generator.state}
    return {"global": random.generator().bit_generator.state, "seed": random.get_seed(), "layers": layers}


def _set_state(generator, state, what):
    try:
        generator.bit_generator.state = state
    except Exception as e:  # NumPy validates the state; any complaint means the file is bad
        raise FileFormatError(f"{what}: the saved random-generator state is invalid: {e}") from None


def restore(model, state: dict, what: str, include_global: bool = True) -> None:
    """Put back :func:`capture`'s output: each layer's generator, then (``include_global``) the global one.

    Raises:
        FileFormatError: when a state is malformed or names a layer the model does not have.
    """
    from tapeflow import random

    if not isinstance(state, dict) or (include_global and not isinstance(state.get("global"), dict)):
        raise FileFormatError(f"{what}: no random-generator state")
    layers = _all_layers(model)
    entries = state.get("layers") or {}
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        raise FileFormatError(f"{what}: invalid layer generator states")
    for key, entry in entries.items():
        # matched by position and class: sub-layers of a subclassed model get new names when rebuilt
        position = int(key) if key.isascii() and key.isdigit() and len(key) <= 9 else len(layers)
        if position >= len(layers) or type(layers[position]).__name__ != entry.get("class_name"):
            raise FileFormatError(f"{what}: generator state for a {entry.get('class_name')!r} layer at "
                                  f"position {key[:12]} fits no layer of model '{model.name}'")
        layer = layers[position]
        if not isinstance(getattr(layer, "_rng", None), np.random.Generator):
            layer._rng = np.random.default_rng()
        _set_state(layer._rng, entry["state"], what)
    if not include_global:
        return
    if state.get("seed") is not None and random.get_seed() != state["seed"]:
        random.set_seed(state["seed"])
    _set_state(random.generator(), state["global"], what)
