"""Layer names: Keras's snake-case class names, numbered per session (``dense``, ``dense_1``, ...)."""

from __future__ import annotations

import re

_NAME_COUNTS: dict[str, int] = {}


def unique_name(base: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``, ... (Keras's naming)."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def clear_session():
    """Restart layer-name numbering (``dense``, ``dense_1``, ...) from scratch, as
    ``keras.backend.clear_session``."""
    _NAME_COUNTS.clear()


def snake_case(name: str) -> str:
    """Keras's layer-name rule: ``BatchNormalization`` -> ``batch_normalization``, ``Conv2D`` -> ``conv2d``,
    ``MaxPooling2D`` -> ``max_pooling2d``, ``LSTM`` -> ``lstm``, ``ConvLSTM2D`` -> ``conv_lstm2d``.

    Example:
        >>> names = ("Conv2D", "MaxPooling2D", "SimpleRNN", "MultiHeadAttention", "ConvLSTM2D")
        >>> [snake_case(n) for n in names]
        ['conv2d', 'max_pooling2d', 'simple_rnn', 'multi_head_attention', 'conv_lstm2d']
    """
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()
