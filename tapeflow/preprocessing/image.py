"""``keras.preprocessing.image``: arrays to and from images (see :mod:`tapeflow.utils`)."""

from tapeflow.utils import array_to_img, img_to_array, load_img, save_img

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]
