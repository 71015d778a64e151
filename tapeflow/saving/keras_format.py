"""Keras 3's ``.keras`` files: read and write them for the layers tapeflow and Keras both have.

A ``.keras`` file is a zip of ``metadata.json`` (the Keras version, the date), ``config.json`` (the model's
architecture as Keras serializes it: ``{"module", "class_name", "config", "registered_name"}`` entries,
``build_config``, ``compile_config``) and ``model.weights.h5`` (an HDF5 file: each layer's variables as
datasets ``layers/<layer name>/vars/0``, ``1``, ...; a recurrent layer's under ``layers/<name>/cell/vars``).
The HDF5 part needs ``h5py`` (the ``keras`` extra).

Loading is safe in the sense of Keras's ``safe_mode``: nothing named by the file is imported or run. Class
names are looked up among tapeflow's registered layers (and ``custom_objects``); a ``Lambda`` layer (code) is
refused; ``module`` entries are ignored, never imported. A Keras option tapeflow does not have is refused by
name unless it holds its default (``None``/``False``), so a model never loads as something else.
"""

from __future__ import annotations

import datetime
import inspect
import io
import json
import os
import zipfile

import numpy as np

from tapeflow._extras import install_hint
from tapeflow.saving import atomic
from tapeflow.saving.errors import FileFormatError, UnsafeFileError

KERAS_VERSION = "3.15.1"  # the format version written into metadata.json
_MAX_JSON = 64 << 20

# the tapeflow classes written as Keras classes of the same name (arguments compatible)
KERAS_LAYERS = {
    "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Permute", "RepeatVector",
    "Embedding", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
    "BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "Conv1D",
    "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "DepthwiseConv1D",
    "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
    "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
    "GlobalMaxPooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "UpSampling1D", "UpSampling2D", "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
    "Cropping1D", "Cropping2D", "Cropping3D", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "SimpleRNN", "LSTM", "GRU", "Identity", "GaussianNoise", "AlphaDropout", "RMSNormalization",
    "GaussianDropout", "ActivityRegularization", "Rescaling", "Resizing", "CenterCrop", "RandomFlip",
    "RandomRotation", "RandomZoom", "RandomTranslation", "RandomContrast", "RandomBrightness", "RandomCrop",
    "Masking", "Attention", "AdditiveAttention", "EinsumDense",
}
_RECURRENT = {"SimpleRNN", "LSTM", "GRU"}  # Keras keeps their variables in a cell: layers/<name>/cell/vars
_MODELS = {"Sequential", "Functional", "Model"}
# keys Keras writes that are tapeflow's own spelling of the same thing, or that tapeflow derives itself
_RENAMED_ON_LOAD = {"batch_shape": "batch_input_shape"}
# Keras options tapeflow's layers lack, at the value that means what tapeflow does anyway
_KERAS_DEFAULTS = {"data_format": "channels_last", "implementation": 2, "use_cudnn": "auto", "unroll": False,
                   "stateful": False, "sparse": False, "ragged": False, "optional": False,
                   "renorm_momentum": 0.99}
_KERAS_OBJECT_MODULES = {"initializer": "keras.initializers", "regularizer": "keras.regularizers",
                         "constraint": "keras.constraints"}


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(f"Reading and writing .keras files needs h5py: {install_hint('keras')}") from None
    return h5py


# --- tapeflow -> Keras --------------------------------------------------------------------------------------
def _keras_object(kind, value):
    """A tapeflow ``{"class_name", "config"}`` (or a name) of an initializer/regularizer/constraint, as Keras
    writes it."""
    if value is None:
        return None
    if isinstance(value, str):
        from tapeflow import initializers

        value = initializers.serialize(initializers.get(value)) if kind == "initializer" else {
            "class_name": value, "config": {}}
    return {"module": _KERAS_OBJECT_MODULES[kind], "class_name": value["class_name"],
            "config": value.get("config", {}), "registered_name": None}


def _dtype_policy(name):
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": name}, "registered_name": None}


def _layer_to_keras(layer):
    from tapeflow.layers import serialize

    name = type(layer).__name__
    if name not in KERAS_LAYERS:
        raise NotImplementedError(
            f"save: layer '{layer.name}' ({name}) has no Keras counterpart that tapeflow writes; save to a "
            f".tapeflow file instead. Written: {sorted(KERAS_LAYERS)}")
    config = dict(serialize(layer)["config"])
    if name == "InputLayer":
        return {"module": "keras.layers", "class_name": name, "registered_name": None,
                "config": {"batch_shape": config["batch_input_shape"], "dtype": config["dtype"],
                           "sparse": False, "name": config["name"]}}
    config.pop("batch_input_shape", None)
    config["dtype"] = _dtype_policy(config["dtype"])
    for key, value in list(config.items()):
        for kind in _KERAS_OBJECT_MODULES:
            if key.endswith(f"_{kind}") and not isinstance(value, bool):
                config[key] = _keras_object(kind, value)
    for key in ("layer", "backward_layer"):
        if isinstance(config.get(key), dict):
            raise NotImplementedError(f"save: wrapper layer '{layer.name}' ({name}) is not written to .keras")
    out = {"module": "keras.layers", "class_name": name, "config": config, "registered_name": None}
    if layer.built and layer._build_input_shape is not None:
        out["build_config"] = {"input_shape": _json_shape(layer._build_input_shape)}
    return out


def _json_shape(shape):
    if isinstance(shape, (list, tuple)) and shape and isinstance(shape[0], (list, tuple)):
        return [_json_shape(s) for s in shape]
    return [None if s is None else int(s) for s in shape]


def _is_ref(x):
    """A ``[layer name, node index, tensor index]`` reference (tapeflow's form of a symbolic tensor)."""
    return isinstance(x, list) and len(x) == 3 and isinstance(x[0], str) and all(isinstance(i, int)
                                                                                 for i in x[1:])


def _output_shape(layer, index):
    if type(layer).__name__ == "InputLayer":
        return _json_shape(layer.get_config()["batch_input_shape"])
    shape = layer.output_shape
    return _json_shape(shape[index] if isinstance(shape, list) else shape)


def _args_to_keras(args, by_name):
    """tapeflow's inbound ``args`` (one reference, or a list of them) as Keras's positional arguments:
    symbolic tensors with the shape and dtype Keras checks."""
    def tensor(ref):
        layer = by_name[ref[0]]
        return {"class_name": "__keras_tensor__", "config": {"shape": _output_shape(layer, ref[2]),
                                                             "dtype": layer.dtype.name, "keras_history": ref}}

    if _is_ref(args):
        return [tensor(args)]
    return [[tensor(a) for a in args]]


def _args_from_keras(args):
    """Keras's positional arguments (references already plain) as tapeflow's inbound ``args``."""
    first = args[0] if len(args) == 1 else args
    if _is_ref(first) or (isinstance(first, list) and all(_is_ref(a) for a in first)):
        return first
    raise FileFormatError(f"a layer call with arguments {args!r} is not one tapeflow rebuilds")


def model_to_keras_config(model) -> dict:
    """The ``config.json`` entry Keras writes for ``model`` (Sequential or functional).

    Raises:
        NotImplementedError: for subclassed models and layers Keras does not share with tapeflow.
    """
    from tapeflow.models import Sequential
    from tapeflow.models.functional import Functional

    config = model.get_config()
    if isinstance(model, Sequential):
        layers = [_layer_to_keras(layer) for layer in model.layers]
        shape = config.get("build_input_shape")
        if shape is not None:
            layers.insert(0, {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
                              "config": {"batch_shape": shape, "dtype": model.dtype.name, "sparse": False,
                                         "name": f"{model.name}_input"}})
        keras = {"name": config["name"], "trainable": config.get("trainable", True),
                 "dtype": _dtype_policy(model.dtype.name), "layers": layers}
        if shape is not None:
            keras["build_input_shape"] = shape
        entry = {"module": "keras", "class_name": "Sequential", "config": keras, "registered_name": None}
        if shape is not None:
            entry["build_config"] = {"input_shape": shape}
        return entry
    if not isinstance(model, Functional):
        raise NotImplementedError(f"save: {type(model).__name__} is a subclassed model; only Sequential and "
                                  "functional models are written to .keras files")
    by_name = {layer.name: layer for layer in model.layers}
    layers = []
    for spec in config["layers"]:
        entry = _layer_to_keras(by_name[spec["name"]])
        entry["name"] = spec["name"]
        entry["inbound_nodes"] = [{"args": _args_to_keras(node["args"], by_name),
                                   "kwargs": node.get("kwargs", {})} for node in spec["inbound_nodes"]]
        layers.append(entry)
    refs = {key: config[key] for key in ("input_layers", "output_layers")}  # Keras's form too: flat for one
    keras = {"name": config["name"], "trainable": config.get("trainable", True), "layers": layers, **refs}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "config": keras,
            "registered_name": "Functional"}


def _variable_groups(model):
    """``{h5 group path: [Variables]}`` in Keras's layout: each layer of ``model.layers`` under its class's
    snake-case name, numbered per model (``dense``, ``dense_1``, ...), whatever the layer's own name."""
    from tapeflow.layers.base import snake_case

    groups, used = {}, {}
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        path = "layers/" + (base if used[base] == 0 else f"{base}_{used[base]}")
        groups[path + ("/cell" if type(layer).__name__ in _RECURRENT else "")] = list(layer.weights)
    return groups


def save_keras(model, filepath, overwrite=True) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (architecture and weights, no optimizer state),
    atomically.

    Raises:
        NotImplementedError: for a layer or model kind the format is not written for (the message says which).
        ImportError: without h5py.
    """
    h5py = _h5py()
    filepath = os.fspath(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"save: {filepath!r} exists and overwrite=False")
    if not model.built:
        raise ValueError(f"save: model '{model.name}' is not built yet; call it on data or build it first")
    config = model_to_keras_config(model)
    weights = io.BytesIO()
    with h5py.File(weights, "w") as h5:
        h5.create_group("vars")
        for path, variables in _variable_groups(model).items():
            group = h5.create_group(f"{path}/vars")
            for i, v in enumerate(variables):
                group.create_dataset(str(i), data=v.numpy())
    date = datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")
    metadata = {"keras_version": KERAS_VERSION, "date_saved": date, "saved_by": "tapeflow"}
    members = {"metadata.json": json.dumps(metadata).encode(), "config.json": json.dumps(config).encode(),
               "model.weights.h5": weights.getvalue()}

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    atomic.atomic_write_bytes(filepath, buffer.getvalue())


# --- Keras -> tapeflow --------------------------------------------------------------------------------------
def _plain(value, where):
    """Keras's nested ``{"module", "class_name", "config", "registered_name"}`` objects as tapeflow's
    ``{"class_name", "config"}`` (a dtype policy as its dtype name); modules are dropped, never imported."""
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            name = (value.get("config") or {}).get("name")
            if name not in ("float16", "float32", "float64", "bfloat16"):
                raise FileFormatError(f"{where}: the dtype policy {name!r} is not supported (mixed precision "
                                      "is not)")
            return name
        if value.get("class_name") == "__keras_tensor__":
            return list((value.get("config") or {}).get("keras_history", []))
        if "class_name" in value and "config" in value and "module" in value:
            # an initializer, regularizer, constraint...: options left at None are dropped (they hold
            # their defaults), so Keras's newer ones do not stop an older tapeflow
            inner = {k: v for k, v in (_plain(value["config"], where) or {}).items() if v is not None}
            return {"class_name": value["class_name"], "config": inner}
        return {k: _plain(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, where) for v in value]
    return value


def _accepted(cls):
    params = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass):
            params |= {p.name for p in inspect.signature(klass.__init__).parameters.values()
                       if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return params - {"self"}


def _layer_from_keras(spec, custom_objects, where):
    from tapeflow.layers import get_registered

    name = spec.get("class_name")
    if name == "Lambda":
        raise UnsafeFileError(f"{where}: the model holds a Lambda layer, which is Python code; tapeflow "
                              "never loads code from a file (as Keras's safe_mode=True). Refused; nothing "
                              "was run")
    if name in _MODELS:
        raise FileFormatError(f"{where}: nested models inside a .keras model are not supported yet")
    registered = spec.get("registered_name")
    if registered and registered != name and registered not in (custom_objects or {}):
        raise UnsafeFileError(f"{where}: layer class {registered!r} is a custom object; pass "
                              f"custom_objects={{{registered!r}: YourClass}}. Refused; nothing was run")
    try:
        cls = get_registered(registered or name, custom_objects)
    except ValueError:
        raise UnsafeFileError(f"{where}: layer class {name!r} is not one tapeflow knows; pass it in "
                              "custom_objects if it is yours. Refused; nothing was imported or run") from None
    config = _plain(spec.get("config") or {}, where)
    config = {_RENAMED_ON_LOAD.get(k, k): v for k, v in config.items()}
    accepted = _accepted(cls)
    for key in list(config):
        if key not in accepted:
            value = config.pop(key)
            if value not in (None, False, [], {}) and _KERAS_DEFAULTS.get(key, object()) != value:
                raise FileFormatError(f"{where}: layer '{config.get('name')}' ({name}) sets the Keras option "
                                      f"{key}={value!r}, which tapeflow's {name} does not have")
    return {"class_name": cls.__name__ if not registered else registered, "config": config}


def _node_from_keras(node, where):
    kwargs = {k: v for k, v in _plain(node.get("kwargs", {}), where).items() if v is not None}
    training = kwargs.pop("training", None)
    args = _args_from_keras(_plain(node.get("args", []), where))
    return {"args": args, "kwargs": kwargs, "training": training}


def keras_config_to_model(entry, custom_objects=None, where="config.json"):
    """Build a tapeflow model from a Keras ``config.json`` entry (Sequential or Functional)."""
    import tapeflow.models  # noqa: F401 - registers Sequential and Functional
    from tapeflow.layers import deserialize

    if not isinstance(entry, dict) or entry.get("class_name") not in _MODELS:
        got = entry.get("class_name") if isinstance(entry, dict) else type(entry).__name__
        raise FileFormatError(f"{where}: expected a Sequential or Functional model; got {got}")
    config = entry.get("config") or {}
    kind = entry["class_name"]
    if kind == "Sequential":
        layers = [_layer_from_keras(s, custom_objects, where) for s in config.get("layers", [])]
        shape = config.get("build_input_shape") or (entry.get("build_config") or {}).get("input_shape")
        if layers and layers[0]["class_name"] == "InputLayer":
            shape = layers.pop(0)["config"].get("batch_input_shape", shape)
        ours = {"name": config.get("name", "sequential"), "trainable": config.get("trainable", True),
                "layers": layers}
        if shape is not None:
            ours["build_input_shape"] = shape
        return deserialize({"class_name": "Sequential", "config": ours}, custom_objects)
    layers = []
    for spec in config.get("layers", []):
        layer = _layer_from_keras(spec, custom_objects, where)
        layer["name"] = spec.get("name", layer["config"].get("name"))
        layer["inbound_nodes"] = [_node_from_keras(node, where) for node in spec.get("inbound_nodes", [])]
        layers.append(layer)
    refs = {}
    for key in ("input_layers", "output_layers"):
        value = config.get(key, [])
        refs[key] = value[0] if len(value) == 1 and isinstance(value[0], list) else value
    ours = {"name": config.get("name", "functional"), "trainable": config.get("trainable", True),
            "layers": layers, **refs}
    return deserialize({"class_name": "Functional", "config": ours}, custom_objects)


def _read_member(zf, name, what, limit):
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise FileFormatError(f"{what}: a .keras file needs {name}; this one has {zf.namelist()}") from None
    if info.file_size > limit:
        raise UnsafeFileError(f"{what}: {name} declares {info.file_size} bytes, more than the limit {limit}")
    return zf.read(name)


def load_keras(filepath, custom_objects=None, compile=True, max_bytes=1 << 31):
    """Load a Keras 3 ``.keras`` file as a tapeflow model (architecture and weights; ``compile`` restores the
    optimizer, loss and metrics Keras recorded when tapeflow has them, without the optimizer's state).

    Raises:
        UnsafeFileError: a Lambda layer, an unknown or custom class not in ``custom_objects``, a huge member.
        FileFormatError: a malformed file, an option tapeflow lacks, weights that do not fit.
        ImportError: without h5py.
    """
    h5py = _h5py()
    what = repr(os.fspath(filepath))
    try:
        zf = zipfile.ZipFile(filepath)
    except zipfile.BadZipFile as e:
        raise FileFormatError(f"{what}: not a .keras file (not a zip archive): {e}") from None
    with zf:
        config = _json(_read_member(zf, "config.json", what, _MAX_JSON), f"{what}: config.json")
        weights = _read_member(zf, "model.weights.h5", what, max_bytes)
    model = keras_config_to_model(config, custom_objects, f"{what}: config.json")
    if not model.built:
        raise FileFormatError(f"{what}: the model records no input shape, so it cannot be built")
    with h5py.File(io.BytesIO(weights), "r") as h5:
        for path, variables in _variable_groups(model).items():
            group = h5.get(f"{path}/vars")
            stored = [] if group is None else [group[str(i)] for i in range(len(group))]
            if len(stored) != len(variables):
                raise FileFormatError(f"{what}: model.weights.h5 holds {len(stored)} arrays under "
                                      f"{path}/vars; the layer has {len(variables)} weights")
            for v, data in zip(variables, stored):
                if tuple(data.shape) != tuple(v.shape):
                    raise FileFormatError(f"{what}: {path}/vars holds shape {data.shape} for weight "
                                          f"'{v.name}' of shape {v.shape}")
            for v, data in zip(variables, stored):
                v.assign(np.asarray(data, dtype=v.dtype))
    compile_config = config.get("compile_config")
    if compile and compile_config:
        _compile_from_keras(model, compile_config, custom_objects, what)
    return model


def _json(data, what):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FileFormatError(f"{what}: not JSON: {e}") from None


def _compile_from_keras(model, compile_config, custom_objects, what):
    from tapeflow import optimizers

    plain = _plain(compile_config, what)
    try:
        optimizer = plain.get("optimizer")
        if isinstance(optimizer, dict):
            accepted = _accepted(optimizers.get(optimizer["class_name"].lower()).__class__)
            optimizer = {"class_name": optimizer["class_name"],
                         "config": {k: v for k, v in optimizer["config"].items() if k in accepted}}
        model.compile(optimizer=optimizer or "rmsprop", loss=plain.get("loss"),
                      metrics=plain.get("metrics"), loss_weights=plain.get("loss_weights"))
    except Exception as e:  # noqa: BLE001 - any complaint about file data means "not restored"
        raise FileFormatError(f"{what}: the compile settings cannot be restored: {type(e).__name__}: {e}. "
                              "Load with compile=False and compile the model yourself") from e
