"""Exceptions raised by tapeflow. Shape errors are ``ValueError``s and dtype errors ``TypeError``s."""


class ShapeError(ValueError):
    """Raised at an op's boundary when shapes do not fit, naming the op and every shape."""


class DTypeError(TypeError):
    """Raised when a dtype is unknown or not allowed for an op."""
