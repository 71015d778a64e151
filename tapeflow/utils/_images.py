"""``image_dataset_from_directory``: a labelled image dataset from class sub-folders (Pillow, loaded
lazily)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tapeflow._extras import install_hint

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_MODES = {"grayscale": ("L", 1), "rgb": ("RGB", 3), "rgba": ("RGBA", 4)}


def _pillow():
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError(
            f"image_dataset_from_directory needs Pillow: {install_hint('images')}"
        ) from error
    return Image


def _choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")


def _list_files(directory: Path, labels, class_names):
    """(paths, integer labels or None, class names) in a stable order."""
    if labels == "inferred":
        found = sorted(p.name for p in directory.iterdir() if p.is_dir())
        if class_names is not None:
            missing = sorted(set(class_names) - set(found))
            if missing:
                raise ValueError(f"image_dataset_from_directory: no sub-folders {missing} in {directory}")
            found = list(class_names)
        paths, ys = [], []
        for k, name in enumerate(found):
            files = sorted(p for p in (directory / name).rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
            paths += files
            ys += [k] * len(files)
        return paths, np.array(ys, dtype=np.int32), found
    paths = sorted(p for p in directory.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if labels is None:
        return paths, None, None
    ys = np.asarray(labels, dtype=np.int32)
    if len(ys) != len(paths):
        raise ValueError(
            f"image_dataset_from_directory: {len(ys)} labels given for {len(paths)} image files in "
            f"{directory} (labels follow the files' sorted order)"
        )
    return paths, ys, class_names


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None,
                                 color_mode="rgb", batch_size=32, image_size=(256, 256), shuffle=True,
                                 seed=None, validation_split=None, subset=None, interpolation="bilinear"):
    """A dataset of ``(images, labels)`` batches from a folder with one sub-folder of images per class.

    Images (PNG, JPEG, BMP, GIF) are read lazily, batch by batch, with Pillow, converted to ``color_mode`` and
    resized to ``image_size``. Classes are the sub-folder names in alphabetical order (``class_names`` on the
    returned dataset).

    Args:
        directory: the folder; with ``labels="inferred"``, ``directory/<class>/*.png`` and so on.
        labels: "inferred" (from sub-folders), None (images only) or a list of integer labels for the image
            files in sorted path order.
        label_mode: "int", "categorical" (one-hot), "binary" (float 0/1, two classes) or None.
        class_names: the class sub-folders to use, in label order (default: all, sorted).
        color_mode: "grayscale" (1 channel), "rgb" (3) or "rgba" (4).
        batch_size: images per batch, or None for single images.
        image_size: ``(height, width)`` to resize to.
        shuffle: shuffle the files (again every epoch).
        seed: the shuffle's seed; use the same seed for the "training" and "validation" subsets.
        validation_split: a fraction of the files held out for validation.
        subset: "training", "validation" or "both" (returns a pair) when ``validation_split`` is set.
        interpolation: "bilinear", "nearest", "bicubic", "lanczos", "box" or "hamming".

    Returns:
        A :class:`tp.data.Dataset` with ``class_names`` and ``file_paths`` attributes, whose images are
        float32 ``(batch, height, width, channels)`` in 0..255; a pair of them for ``subset="both"``.

    Raises:
        ImportError: without Pillow. ValueError: for bad arguments or a folder without images.

    Example:
        >>> import tapeflow as tp
        >>> train = tp.utils.image_dataset_from_directory(  # doctest: +SKIP
        ...     "flowers/", image_size=(64, 64), validation_split=0.2, subset="training", seed=1)
        >>> train.class_names  # doctest: +SKIP
        ['daisy', 'rose', 'tulip']
    """
    image = _pillow()
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"image_dataset_from_directory: {str(directory)!r} is not a folder")
    _choice("label_mode", label_mode, ("int", "categorical", "binary", None))
    _choice("color_mode", color_mode, tuple(_MODES))
    _choice("interpolation", interpolation, ("bilinear", "nearest", "bicubic", "lanczos", "box", "hamming"))
    if labels not in ("inferred", None) and isinstance(labels, str):
        raise ValueError(
            f"`labels` must be 'inferred', None or a list of integers. Received: labels={labels!r}"
        )
    if labels is None:
        label_mode = None
    if validation_split is not None:
        if not 0 < validation_split < 1:
            raise ValueError(
                f"`validation_split` must be in (0, 1). Received: validation_split={validation_split}"
            )
        _choice("subset", subset, ("training", "validation", "both"))
        if shuffle and seed is None:
            raise ValueError(
                "image_dataset_from_directory: give a `seed` with validation_split and shuffle, so the "
                "training and validation subsets do not overlap"
            )
    elif subset is not None:
        raise ValueError("`subset` is only used with `validation_split`")

    paths, ys, names = _list_files(directory, labels, class_names)
    if not paths:
        raise ValueError(
            f"image_dataset_from_directory: no image files {IMAGE_EXTENSIONS} found in {directory}"
        )
    if label_mode == "binary" and len(names or ()) != 2:
        raise ValueError(f"label_mode='binary' needs exactly 2 classes; found {len(names or ())}: {names}")
    if shuffle:
        seed = int(__import__("tapeflow").random.generator().integers(2**31)) if seed is None else seed
        order = np.random.default_rng(seed).permutation(len(paths))
        paths = [paths[i] for i in order]
        ys = ys[order] if ys is not None else None
    n_val = int(round(validation_split * len(paths))) if validation_split else 0
    parts = {"training": slice(0, len(paths) - n_val), "validation": slice(len(paths) - n_val, len(paths))}
    wanted = ["training", "validation"] if subset == "both" else [subset or "training"]
    out = [
        _build(image, paths[parts[w]], None if ys is None else ys[parts[w]], names, label_mode, color_mode,
               batch_size, tuple(image_size), shuffle and w == "training", seed, interpolation)
        for w in wanted
    ]
    return tuple(out) if subset == "both" else out[0]


def _build(image, paths, ys, names, label_mode, color_mode, batch_size, size, shuffle, seed, interpolation):
    from tapeflow.data import Dataset

    pil_mode, _ = _MODES[color_mode]
    resample = getattr(image.Resampling, interpolation.upper())
    height, width = size
    num_classes = len(names) if names else (int(ys.max()) + 1 if ys is not None and len(ys) else 0)

    def load(index):
        with image.open(paths[int(index)]) as im:
            arr = np.asarray(im.convert(pil_mode).resize((width, height), resample), dtype=np.float32)
        arr = arr[..., None] if arr.ndim == 2 else arr
        if label_mode is None:
            return arr
        y = ys[int(index)]
        if label_mode == "categorical":
            y = np.eye(num_classes, dtype=np.float32)[y]
        elif label_mode == "binary":
            y = np.float32(y)[None]
        return arr, y

    ds = Dataset.from_tensor_slices(np.arange(len(paths)))
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed)
    ds = ds._map_numpy(load, num_parallel_calls=min(4, os.cpu_count() or 1))  # Pillow decodes without the GIL
    if batch_size is not None:
        ds = ds.batch(batch_size)
    ds.class_names = names
    ds.file_paths = [str(p) for p in paths]
    return ds


def _as_hwc(x, data_format, what):
    arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"{what}: expected an image of rank 3 (height, width, channels). Received shape "
                         f"{arr.shape}")
    if data_format == "channels_first":
        arr = arr.transpose(1, 2, 0)
    elif data_format not in (None, "channels_last"):
        raise ValueError(
            f"`data_format` must be 'channels_last' or 'channels_first'. Received: {data_format!r}"
        )
    return arr


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """A Pillow image from an array ``(height, width, channels)`` with 1, 3 or 4 channels (Keras's
    ``utils.array_to_img``).

    Args:
        x: the array or Tensor.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.
        scale: stretch the values to 0..255 (from their minimum and maximum); else they must already be
            0..255.

    Raises:
        ValueError: for another rank or channel count.
    """
    image = _pillow()
    arr = _as_hwc(x, data_format, "array_to_img")
    if scale:
        arr = arr - arr.min()
        top = arr.max()
        arr = arr / top * 255.0 if top > 0 else arr
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if arr.shape[2] not in modes:
        raise ValueError(f"array_to_img: 1, 3 or 4 channels are supported. Received shape {arr.shape}")
    data = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return image.fromarray(data[:, :, 0] if arr.shape[2] == 1 else data, modes[arr.shape[2]])


def img_to_array(img, data_format=None, dtype="float32"):
    """The pixels of a Pillow image as an array ``(height, width, channels)`` (``utils.img_to_array``)."""
    arr = np.asarray(img, dtype=dtype)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return arr.transpose(2, 0, 1) if data_format == "channels_first" else arr


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest"):
    """Read an image file as a Pillow image (``utils.load_img``), converted to ``color_mode`` and resized to
    ``target_size`` ``(height, width)`` when given."""
    _choice("color_mode", color_mode, _MODES)
    image = _pillow()
    img = image.open(path).convert(_MODES[color_mode][0])
    if target_size is not None:
        resample = {"nearest": image.NEAREST, "bilinear": image.BILINEAR, "bicubic": image.BICUBIC}
        _choice("interpolation", interpolation, resample)
        img = img.resize((int(target_size[1]), int(target_size[0])), resample[interpolation])
    return img


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Write an array as an image file (``utils.save_img``)."""
    array_to_img(x, data_format=data_format, scale=scale).save(path, format=file_format, **kwargs)
