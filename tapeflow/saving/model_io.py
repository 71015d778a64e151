"""Whole models and their weights on disk: ``save_model``/``load_model``, ``save_weights``/``load_weights``.

``save_model`` writes one ``.tapeflow`` archive (see :mod:`tapeflow.saving.archive`): the architecture and
compile settings as JSON, the weights and the optimizer state as safetensors, and metadata (tapeflow version,
seed, epoch). ``load_model`` rebuilds the model from registered tapeflow classes and ``custom_objects`` only,
checks every array against the architecture (count, shape, dtype), and restores the optimizer so training
continues exactly where it stopped.

Example:
    >>> import os, tempfile
    >>> import numpy as np, tapeflow as tp
    >>> model = tp.Sequential([tp.layers.Dense(2, input_shape=(3,))])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> path = os.path.join(tempfile.mkdtemp(), "model.tapeflow")
    >>> tp.saving.save_model(model, path)
    >>> again = tp.saving.load_model(path)
    >>> x = np.ones((1, 3), "float32")
    >>> bool(np.array_equal(model.predict(x), again.predict(x)))
    True
"""

from __future__ import annotations

import io
import math
import os

import numpy as np

from tapeflow.saving import archive, rng_state, safetensors_io
from tapeflow.saving.errors import FileFormatError, UnsafeFileError

WEIGHTS = "model.weights.safetensors"
OPTIMIZER = "optimizer.safetensors"


# --- arrays <-> variables -----------------------------------------------------------------------------------
def weight_arrays(model) -> dict:
    """The model's weights as ``{"0000/dense/kernel": array, ...}``: position first (what loading matches on),
    then the variable's name (for people reading the file)."""
    return {f"{i:04d}/{v.name}": v.numpy() for i, v in enumerate(model.weights)}


def _index(key, what):
    head = key.split("/", 1)[0]
    if len(head) != 4 or not head.isdigit():
        raise FileFormatError(f"{what}: array {key!r} is not named '<4-digit index>/<name>'")
    return int(head)


def check_fits(variables, declared: dict, what: str) -> None:
    """Check that ``declared`` (key from :func:`weight_arrays` -> ``(shape, dtype)``, as a file's header
    declares them) fits ``variables`` one to one: count, shape and dtype; run before any array is read.

    Raises:
        FileFormatError: naming the first mismatch.
    """
    variables = list(variables)
    ordered = sorted(declared.items(), key=lambda kv: _index(kv[0], what))
    if [_index(k, what) for k, _ in ordered] != list(range(len(ordered))):
        raise FileFormatError(f"{what}: the weight indices are not 0..{len(ordered) - 1}")
    if len(ordered) != len(variables):
        raise FileFormatError(f"{what}: the file holds {len(ordered)} weights; the model has "
                              f"{len(variables)}; it was saved from a different architecture")
    for v, (key, (shape, dtype)) in zip(variables, ordered):
        if tuple(shape) != tuple(v.shape):
            raise FileFormatError(f"{what}: weight '{v.name}' has shape {tuple(v.shape)} but the file's "
                                  f"{key!r} has shape {tuple(shape)}")
        if dtype != v.dtype:
            raise FileFormatError(f"{what}: weight '{v.name}' has dtype {v.dtype} but the file's {key!r} has "
                                  f"dtype {dtype}")


def check_and_assign(variables, arrays: dict, what: str) -> None:
    """Assign ``arrays`` (from :func:`weight_arrays`) to ``variables`` after checking every count, shape and
    dtype (:func:`check_fits`); nothing is assigned unless everything matches.

    Raises:
        FileFormatError: naming the first mismatch.
    """
    variables = list(variables)
    check_fits(variables, {k: (a.shape, a.dtype) for k, a in arrays.items()}, what)
    ordered = sorted(arrays.items(), key=lambda kv: _index(kv[0], what))
    for v, (_, arr) in zip(variables, ordered):
        v.assign(arr)


def load_members_into(model, members: dict, what: str) -> None:
    """Assign the weights (and, when present and the model is compiled, the optimizer state) of archive
    ``members`` to the built ``model``, each checked from its header before its arrays are read."""
    wwhat = f"{what}: {WEIGHTS}"
    check_fits(model.weights, _header(members[WEIGHTS], wwhat).arrays, wwhat)
    check_and_assign(model.weights, _arrays(members[WEIGHTS], wwhat), wwhat)
    if OPTIMIZER in members and getattr(model, "optimizer", None) is not None:
        owhat = f"{what}: {OPTIMIZER}"
        check_optimizer_fits(model.optimizer, model, _header(members[OPTIMIZER], owhat).arrays, owhat)
        restore_optimizer(model.optimizer, model, _arrays(members[OPTIMIZER], owhat), owhat)


def _header(member, what):
    """The checked safetensors header of an archive member (bytes or an unread ``LazyMember``)."""
    if isinstance(member, archive.LazyMember):
        return member.header()
    return safetensors_io.read_header(io.BytesIO(member), what)


def _arrays(member, what) -> dict:
    """The arrays of an archive member (views into its bytes; ``Variable.assign`` copies)."""
    data = member.read() if isinstance(member, archive.LazyMember) else member
    return safetensors_io.loads(data, what, copy=False)[0]


def optimizer_arrays(optimizer, model) -> dict:
    """The optimizer's state: ``iterations`` and each slot keyed by the index of its variable in
    ``model.weights`` (so it can be rebuilt in the same order on load)."""
    position = {id(v): i for i, v in enumerate(model.weights)}
    state = optimizer.get_weights()  # host copies: the edge where the state leaves the backend
    out = {"iterations": np.asarray(state[0], dtype=np.int64)}
    names = tuple(optimizer._slot_names)
    slots = iter(state[1:])
    for var in optimizer._variables:  # the build order, which set_weights expects back
        if id(var) not in position:
            raise ValueError(f"save: the optimizer holds state for variable '{var.name}', which is not a "
                             f"weight of model '{model.name}'")
        for slot in names:
            out[f"{position[id(var)]:04d}/{slot}"] = next(slots)
    return out


def check_optimizer_fits(optimizer, model, declared: dict, what: str) -> list:
    """Check optimizer state (key from :func:`optimizer_arrays` -> ``(shape, dtype)``, as a header declares
    it) against ``model`` and ``optimizer`` before any of it is read; return the weight indices in build
    order.

    Raises:
        FileFormatError: when the state does not fit the model or the optimizer.
    """
    declared = dict(declared)
    iterations = declared.pop("iterations", None)
    if iterations is None or tuple(iterations[0]) != () or iterations[1].kind not in "iu":
        raise FileFormatError(f"{what}: the optimizer state has no valid 'iterations' scalar")
    names = tuple(optimizer._slot_names)
    weights = model.weights
    order, count = [], 0
    for key, (shape, dtype) in declared.items():  # file order is build order
        index = _index(key, what)
        slot = key.split("/", 1)[1]
        if index >= len(weights) or slot not in names:
            raise FileFormatError(f"{what}: optimizer state {key!r} fits neither the model ({len(weights)} "
                                  f"weights) nor {type(optimizer).__name__} (slots {list(names)})")
        if not order or order[-1] != index:
            order.append(index)
        var = weights[index]
        if tuple(shape) != tuple(var.shape) or dtype != var.dtype:
            raise FileFormatError(f"{what}: optimizer slot {key!r} has shape {tuple(shape)} and dtype "
                                  f"{dtype}; weight '{var.name}' has {var.shape} and {var.dtype}")
        count += 1
    if len(set(order)) != len(order) or count != len(order) * len(names):
        raise FileFormatError(f"{what}: the optimizer state is incomplete or out of order")
    return order


def restore_optimizer(optimizer, model, arrays: dict, what: str) -> None:
    """Rebuild ``optimizer``'s slots for ``model`` and fill them from :func:`optimizer_arrays`' output.

    Raises:
        FileFormatError: when the state does not fit the model or the optimizer.
    """
    order = check_optimizer_fits(optimizer, model, {k: (a.shape, a.dtype) for k, a in arrays.items()}, what)
    arrays = dict(arrays)
    iterations = arrays.pop("iterations")
    if int(iterations) < 0:
        raise FileFormatError(f"{what}: the optimizer state has no valid 'iterations' scalar")
    optimizer.build([model.weights[i] for i in order])
    try:
        optimizer.set_weights([iterations, *arrays.values()])
    except ValueError as e:
        raise FileFormatError(f"{what}: the optimizer state does not fit: {e}") from None


# --- compile settings ---------------------------------------------------------------------------------------
def _serialize_spec(spec, module):
    """A loss/metric spec (name, object, function, list or dict of them) as JSON data."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_serialize_spec(s, module) for s in spec]
    if isinstance(spec, dict):
        return {str(k): _serialize_spec(v, module) for k, v in spec.items()}
    if isinstance(spec, type):
        return {"class_name": spec.__name__, "config": {}}
    base = module.Loss if hasattr(module, "Loss") else module.Metric
    if isinstance(spec, base):
        try:
            return module.serialize(spec)
        except ValueError:  # a user class: rebuilt on load from custom_objects only
            return {"class_name": type(spec).__name__, "config": spec.get_config()}
    if callable(spec):
        resolved = module.get(spec)
        try:
            return module.serialize(resolved)
        except ValueError:
            return {"function": getattr(spec, "__name__", repr(spec))}
    raise TypeError(f"save: cannot serialize {spec!r} ({type(spec).__name__}) in the compile settings")


def _deserialize_spec(spec, module, custom_objects, what):
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return [_deserialize_spec(s, module, custom_objects, what) for s in spec]
    if isinstance(spec, dict) and "function" in spec:
        name = spec["function"]
        if name not in (custom_objects or {}):
            raise UnsafeFileError(f"{what}: the model was compiled with the custom function {name!r}; pass "
                                  f"custom_objects={{{name!r}: fn}} or load with compile=False")
        return custom_objects[name]
    if isinstance(spec, dict) and "class_name" in spec:
        return module.deserialize(spec, custom_objects)
    if isinstance(spec, dict):
        return {k: _deserialize_spec(v, module, custom_objects, what) for k, v in spec.items()}
    raise FileFormatError(f"{what}: cannot read compile setting {spec!r}")


def compile_config(model) -> dict | None:
    """The compile settings of ``model`` as JSON data (None if it was never compiled)."""
    from tapeflow import losses, metrics, optimizers

    args = getattr(model, "_compile_args", None)
    if not getattr(model, "_compiled", False) or args is None:
        return None
    try:
        optimizer = optimizers.serialize(model.optimizer)
    except ValueError:  # a user's optimizer class: rebuilt on load from custom_objects only
        optimizer = {"class_name": type(model.optimizer).__name__, "config": model.optimizer.get_config()}
    return {
        "optimizer": optimizer,
        "loss": _serialize_spec(args.get("loss"), losses),
        "metrics": _serialize_spec(args.get("metrics"), metrics),
        "loss_weights": args.get("loss_weights"),
        "weighted_metrics": _serialize_spec(args.get("weighted_metrics"), metrics),
    }


def compile_from_config(model, config: dict, custom_objects, what: str) -> None:
    """``model.compile(...)`` from :func:`compile_config`'s output."""
    from tapeflow import losses, metrics, optimizers

    optimizer = optimizers.deserialize(config["optimizer"], custom_objects)
    model.compile(
        optimizer=optimizer,
        loss=_deserialize_spec(config.get("loss"), losses, custom_objects, what),
        metrics=_deserialize_spec(config.get("metrics"), metrics, custom_objects, what),
        loss_weights=config.get("loss_weights"),
        weighted_metrics=_deserialize_spec(config.get("weighted_metrics"), metrics, custom_objects, what),
    )


# --- class names in a config are checked before anything is built -------------------------------------------
def _known_names(custom_objects) -> set:
    import tapeflow.activations
    import tapeflow.constraints
    import tapeflow.initializers
    import tapeflow.layers
    import tapeflow.losses
    import tapeflow.metrics
    import tapeflow.models  # noqa: F401 - registers Sequential and Functional
    import tapeflow.optimizers
    import tapeflow.regularizers
    from tapeflow.layers.serialization import _REGISTRY

    names = set(_REGISTRY) | set(custom_objects or {})
    for module in (tapeflow.layers, tapeflow.optimizers, tapeflow.optimizers.schedules, tapeflow.losses,
                   tapeflow.metrics, tapeflow.initializers, tapeflow.regularizers, tapeflow.constraints,
                   tapeflow.activations):
        names.update(n for n in getattr(module, "__all__", ()) if n[:1].isupper())
    return names


def _shape_like(key, value) -> bool:
    return (isinstance(key, str) and key.endswith("shape") and isinstance(value, list)
            and all(isinstance(d, int) and not isinstance(d, bool) or d is None for d in value))


def check_config(config, custom_objects, what, limits=archive.DEFAULT_LIMITS) -> None:
    """Refuse, before anything is built: a ``class_name`` that is neither a tapeflow class nor in
    ``custom_objects``; any ``module`` key (tapeflow never imports a module a file names); integers beyond
    ``limits.max_config_int`` (seeds excepted); shapes of more than ``limits.max_sample_elements`` values per
    sample.

    Raises:
        UnsafeFileError: naming the offending entry.
    """
    known = _known_names(custom_objects)
    stack = [(None, config)]
    while stack:  # iterative: no recursion on data from a file
        key, node = stack.pop()
        if isinstance(node, dict):
            if "module" in node:
                raise UnsafeFileError(f"{what}: config.json names a module ({node['module']!r}); tapeflow "
                                      f"never imports modules named by a file. Refused; nothing was run")
            name = node.get("class_name")
            if name is not None and (not isinstance(name, str) or name not in known):
                raise UnsafeFileError(
                    f"{what}: config.json names class {name!r}, which is neither a registered tapeflow class "
                    f"nor in custom_objects. Refused; nothing was imported or run. If it is your own class, "
                    f"pass custom_objects={{{name!r}: YourClass}}"
                )
            stack.extend(node.items())
        elif isinstance(node, list):
            if _shape_like(key, node) and math.prod(d or 1 for d in node[1:]) > limits.max_sample_elements:
                raise UnsafeFileError(f"{what}: config.json gives {key} {node}: absurd (more than "
                                      f"{limits.max_sample_elements} values per sample)")
            stack.extend((key, v) for v in node)
        elif isinstance(node, int) and not isinstance(node, bool) and abs(node) > limits.max_config_int \
                and key != "seed":
            raise UnsafeFileError(f"{what}: config.json gives {key!r} the absurd value {node} (limit "
                                  f"{limits.max_config_int}; raise it with limits=tp.saving.Limits(...))")


# --- models -------------------------------------------------------------------------------------------------
def _as_shape(x):
    """JSON lists back to the nest of shape tuples ``build`` takes."""
    if isinstance(x, list) and all(d is None or (isinstance(d, int) and not isinstance(d, bool)) for d in x):
        return tuple(x)
    if isinstance(x, list):
        return [_as_shape(s) for s in x]
    if isinstance(x, dict):
        return {k: _as_shape(v) for k, v in x.items()}
    raise ValueError(f"build_input_shape: {x!r} is not a shape")  # the loader names the file


def _to_json_shape(shape):
    if isinstance(shape, tuple) and all(d is None or isinstance(d, int) for d in shape):
        return list(shape)
    if isinstance(shape, dict):
        return {k: _to_json_shape(v) for k, v in shape.items()}
    return [_to_json_shape(s) for s in shape]


def model_members(model, include_optimizer=True, metadata=None) -> dict:
    """The archive members (``config.json``, weights, optimizer) of ``model``; used by ``save_model`` and the
    backup callback."""
    from tapeflow import random
    from tapeflow.layers import serialize

    if not model.built:
        raise ValueError(f"save: model '{model.name}' is not built yet, so it has no weights; call it on "
                         f"data or give its input shape first")
    build_shape = getattr(model, "_build_input_shape", None)
    config = {
        "model": serialize(model),
        "build_input_shape": None if build_shape is None else _to_json_shape(build_shape),
        "compile": compile_config(model),
    }
    weights = weight_arrays(model)
    history = getattr(model, "history", None)
    epoch = history.epoch[-1] + 1 if history is not None and history.epoch else None  # as initial_epoch
    meta = archive.new_metadata("model", seed=random.get_seed(), epoch=epoch, weights=len(weights),
                                **(metadata or {}))
    layer_rngs = rng_state.capture(model)["layers"]
    members = {
        "metadata.json": archive.dumps_json(meta),
        "config.json": archive.dumps_json(config),
        WEIGHTS: lambda f: safetensors_io.write(f, weights),
    }
    if layer_rngs:  # seeded layers' generators, so training after a load draws what it would have drawn
        members["training_state.json"] = archive.dumps_json({"rng": {"layers": layer_rngs}})
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None and optimizer.iterations > 0:
        state = optimizer_arrays(optimizer, model)
        members[OPTIMIZER] = lambda f: safetensors_io.write(f, state)
    return members


def save_model(model, filepath, overwrite=True, include_optimizer=True) -> None:
    """Save ``model`` (architecture, compile settings, weights, optimizer state) to one ``.tapeflow`` file,
    atomically.

    Args:
        model: a built tapeflow model (Sequential, functional, or subclassed with ``get_config``).
        filepath: the file (``.tapeflow`` recommended; a name ending in ``.keras`` writes Keras 3's format,
            which Keras loads, for the layers both have: see :mod:`tapeflow.saving.keras_format`).
        overwrite: if False, refuse to replace an existing file.
        include_optimizer: save the optimizer's state so training resumes exactly.

    Raises:
        ValueError: if the model is not built; FileExistsError with ``overwrite=False``;
        NotImplementedError: for a subclassed model without ``get_config``.
    """
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):  # Keras 3's own format, which Keras reads
        from tapeflow.saving.keras_format import save_keras

        return save_keras(model, filepath, overwrite=overwrite)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    archive.write_archive(filepath, model_members(model, include_optimizer))


def model_from_members(members: dict, what: str, custom_objects=None, compile=True, limits=None):
    """Rebuild a model from archive members (see :func:`load_model`)."""
    from tapeflow import random
    from tapeflow.layers import deserialize
    from tapeflow.layers._budget import activation_cap, weight_budget

    limits = limits or archive.DEFAULT_LIMITS
    if "config.json" not in members or WEIGHTS not in members:
        raise FileFormatError(f"{what}: a model file needs config.json and {WEIGHTS}; this one has "
                              f"{sorted(members)}")
    config = archive.loads_json(members["config.json"], f"{what}: config.json", limits)
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise FileFormatError(f"{what}: config.json has no 'model' entry")
    check_config(config, custom_objects, what, limits)
    declared = _header(members[WEIGHTS], f"{what}: {WEIGHTS}")  # the arrays themselves are read once they fit
    rng = random.generator().bit_generator.state  # building draws initial weights: leave the stream as it was
    try:
        # the architecture may not create more weight bytes than the file holds, nor any activation beyond
        # limits.max_activation_bytes (the graph is built from shapes where layers can): absurd sizes are
        # refused before they are allocated
        budget = declared.nbytes
        with weight_budget(budget), activation_cap(limits.max_activation_bytes):
            model = deserialize(config["model"], custom_objects)
            if not model.built and config.get("build_input_shape") is not None:
                model.build(_as_shape(config["build_input_shape"]))
    except (UnsafeFileError, FileFormatError):
        raise
    except Exception as e:  # constructors meeting hostile values raise all kinds; each means "refused"
        raise FileFormatError(f"{what}: config.json does not describe a model this tapeflow can build: "
                              f"{type(e).__name__}: {e}") from e
    finally:
        random.generator().bit_generator.state = rng
    from tapeflow.models import Model

    if not isinstance(model, Model):
        raise FileFormatError(f"{what}: config.json describes a {type(model).__name__}, not a model")
    if not model.built:
        raise FileFormatError(f"{what}: the model cannot be built (no input shape recorded); it holds "
                              f"{len(declared.arrays)} weights")
    check_fits(model.weights, declared.arrays, f"{what}: {WEIGHTS}")  # before a byte of weights is inflated
    if "training_state.json" in members:
        state = archive.loads_json(members["training_state.json"], f"{what}: training_state.json", limits)
        rng_state.restore(model, state.get("rng") if isinstance(state, dict) else None, what,
                          include_global=False)
    if compile and config.get("compile"):
        try:
            compile_from_config(model, config["compile"], custom_objects, what)
        except (UnsafeFileError, FileFormatError):
            raise
        except Exception as e:  # as for the architecture: any complaint about file data means "refused"
            raise FileFormatError(f"{what}: the compile settings cannot be restored: {type(e).__name__}: "
                                  f"{e}") from e
    load_members_into(model, members, what)  # the optimizer state only when compiled from the file
    return model


def _is_keras_archive(filepath) -> bool:
    """Whether a ``.keras`` file is Keras's format (a zip with ``model.weights.h5``), not a tapeflow archive
    written under that name by an older tapeflow."""
    import zipfile

    try:
        with zipfile.ZipFile(filepath) as zf:
            return "model.weights.h5" in zf.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_model(filepath, custom_objects=None, compile=True, limits=None):
    """Load a model saved by :func:`save_model` (or ``model.save``).

    Only registered tapeflow classes and those in ``custom_objects`` are built; nothing in the file is ever
    imported, unpickled or run.

    Args:
        filepath: the ``.tapeflow`` file.
        custom_objects: ``{name: class_or_function}`` for your own layers, models, losses and metrics.
        compile: restore the compile settings and the optimizer state (so ``fit`` continues exactly).
        limits: a :class:`~tapeflow.saving.Limits` to change the size limits.

    Returns:
        The model, predicting bit-identically to the saved one.

    Raises:
        FileNotFoundError: if the file does not exist.
        FileFormatError: truncated, corrupt, or not matching its architecture.
        UnsafeFileError: unknown class names, module references, zip bombs, path traversal.
    """
    what = repr(os.fspath(filepath))
    if os.fspath(filepath).endswith(".keras") and _is_keras_archive(filepath):
        from tapeflow.saving.keras_format import load_keras

        return load_keras(filepath, custom_objects=custom_objects, compile=compile)
    if os.fspath(filepath).endswith(".safetensors"):
        raise FileFormatError(f"{what} holds weights only (safetensors); build the model and call "
                              f"model.load_weights()")
    skip = () if compile else (OPTIMIZER,)
    with archive.open_archive(filepath, limits, skip, lazy=archive.ARRAY_MEMBERS) as members:
        kind = members["metadata.json"]["kind"]
        if kind == "weights":
            raise FileFormatError(f"{what} holds weights only; build the model and call model.load_weights()")
        return model_from_members(members, what, custom_objects, compile, limits)


# --- weights only -------------------------------------------------------------------------------------------
def save_weights(model, filepath) -> None:
    """Write ``model``'s weights to ``filepath`` atomically: a ``.safetensors`` file (readable by any
    safetensors library) or, for any other extension, a ``.tapeflow`` archive of kind "weights".

    Raises:
        ValueError: if the model is not built.
    """
    if not model.built:
        raise ValueError(f"save_weights: model '{model.name}' is not built yet, so it has no weights")
    from tapeflow import __version__

    arrays = weight_arrays(model)
    filepath = os.fspath(filepath)
    if filepath.endswith(".safetensors"):
        header = {"format": "tapeflow.weights", "tapeflow_version": __version__}
        safetensors_io.save_file(filepath, arrays, header)
        return
    meta = archive.new_metadata("weights", weights=len(arrays))
    archive.write_archive(filepath, {"metadata.json": archive.dumps_json(meta),
                                     WEIGHTS: lambda f: safetensors_io.write(f, arrays)})


def load_weights(model, filepath, limits=None, skip_mismatch=False) -> None:
    """Set ``model``'s weights from a file written by :func:`save_weights` or :func:`save_model`.

    Every count, shape and dtype is checked before any weight changes. With ``skip_mismatch=True`` (Keras's
    option) a weight whose shape or dtype differs from the file's keeps its value, with a warning naming it;
    the count must still match.

    Raises:
        ValueError: if the model is not built. FileFormatError: if the file does not fit the model.
    """
    if not model.built:
        raise ValueError(f"load_weights: build model '{model.name}' first (call it on data or give its input "
                         f"shape), so its weights exist")
    filepath = os.fspath(filepath)
    what = repr(filepath)
    limits = limits or archive.DEFAULT_LIMITS
    if filepath.endswith(".safetensors"):
        arrays = safetensors_io.load_file(filepath, max_bytes=limits.max_member_bytes, copy=False)
    else:
        with archive.open_archive(filepath, limits, lazy=archive.ARRAY_MEMBERS) as members:
            if WEIGHTS not in members:
                raise FileFormatError(f"{what} holds no weights")
            what = f"{what}: {WEIGHTS}"
            if not skip_mismatch:
                check_fits(model.weights, _header(members[WEIGHTS], what).arrays, what)  # before inflating
            arrays = _arrays(members[WEIGHTS], what)
    if skip_mismatch:
        _assign_matching(model.weights, arrays, what)
    else:
        check_and_assign(model.weights, arrays, what)


def _assign_matching(variables, arrays, what):
    """Assign each array whose shape and dtype fit its variable; warn about the others."""
    variables = list(variables)
    ordered = sorted(arrays.items(), key=lambda kv: _index(kv[0], what))
    if len(ordered) != len(variables):
        raise FileFormatError(
            f"{what}: the file holds {len(ordered)} weights; the model has {len(variables)}"
        )
    skipped = []
    for v, (_, arr) in zip(variables, ordered):
        if tuple(arr.shape) == tuple(v.shape) and arr.dtype == v.dtype:
            v.assign(arr)
        else:
            skipped.append(f"{v.name} {tuple(v.shape)} (file: {tuple(arr.shape)})")
    if skipped:
        import warnings

        warnings.warn(f"load_weights(skip_mismatch=True): kept the values of {skipped}", UserWarning,
                      stacklevel=3)


def clone_model(model, custom_objects=None):
    """A new model of the same architecture with freshly initialized weights (not compiled), as Keras's
    ``clone_model``.

    Raises:
        NotImplementedError: for a subclassed model without ``get_config``.
    """
    from tapeflow.layers import deserialize, serialize

    clone = deserialize(serialize(model), custom_objects)
    shape = getattr(model, "_build_input_shape", None)
    if not clone.built and shape is not None:
        clone.build(shape)
    return clone


def describe(filepath, limits=None) -> dict:
    """What a ``.tapeflow`` file holds, read without building anything (so safe on any file).

    Returns:
        ``{"metadata": {...}, "model": class name or None, "layers": [(class name, name), ...],
        "weights": [(key, shape, dtype), ...], "optimizer": bool, "compile": dict or None}``.

    Raises:
        FileFormatError, UnsafeFileError: as :func:`load_model` for a broken or hostile file.

    Example:
        >>> import os, tempfile, tapeflow as tp
        >>> path = os.path.join(tempfile.mkdtemp(), "m.tapeflow")
        >>> tp.Sequential([tp.Input(shape=(3,)), tp.layers.Dense(2, name="out")]).save(path)
        >>> info = tp.saving.describe(path)
        >>> info["model"], info["layers"]
        ('Sequential', [('Dense', 'out')])
        >>> info["weights"]
        [('0000/out/kernel', (3, 2), 'float32'), ('0001/out/bias', (2,), 'float32')]
    """
    limits = limits or archive.DEFAULT_LIMITS
    what = repr(os.fspath(filepath))
    with archive.open_archive(filepath, limits, lazy=archive.ARRAY_MEMBERS) as members:
        info = {"metadata": members["metadata.json"], "model": None, "layers": [], "weights": [],
                "optimizer": OPTIMIZER in members, "compile": None}
        if WEIGHTS in members:  # the header alone: describe never inflates the arrays
            arrays = _header(members[WEIGHTS], f"{what}: {WEIGHTS}").arrays
            info["weights"] = [(k, tuple(shape), dtype.newbyteorder("=").name) for k, (shape, dtype) in
                               arrays.items()]
    if "config.json" in members:
        config = archive.loads_json(members["config.json"], f"{what}: config.json", limits)
        model = config.get("model") if isinstance(config, dict) else None
        if isinstance(model, dict):
            info["model"] = model.get("class_name")
            layers = (model.get("config") or {}).get("layers") or []
            info["layers"] = [(spec.get("class_name"), (spec.get("config") or {}).get("name"))
                              for spec in layers if isinstance(spec, dict)]
        info["compile"] = config.get("compile") if isinstance(config, dict) else None
    return info
