"""Learning-rate schedules (``tp.optimizers.schedules``): ``schedule(step) -> learning rate``.

An optimizer given a schedule evaluates it at its ``iterations`` count before each update.

Example:
    >>> import tapeflow as tp
    >>> s = tp.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    >>> round(s(10), 6), round(s(5), 6)
    (0.05, 0.070711)
"""

from __future__ import annotations

import bisect
import math

from tapeflow._catalog import Catalog, Configurable


class LearningRateSchedule(Configurable):
    """Base class: ``__call__(step) -> float`` and a JSON ``get_config``."""

    def __call__(self, step):
        raise NotImplementedError


def _positive(name, value):
    if value <= 0:
        raise ValueError(f"`{name}` must be positive. Received: {name}={value}")
    return value


class _RateDecay(LearningRateSchedule):
    """Shared by the decays of ``decay_rate`` per ``decay_steps`` (the ratio floored if ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.decay_rate = float(decay_rate)
        self.staircase = bool(staircase)

    def _progress(self, step):
        p = step / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
        }


class ExponentialDecay(_RateDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)`` (integer division if ``staircase``)."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[i]`` where ``boundaries[i-1] < step <= boundaries[i]`` (one more value than boundaries)."""

    def __init__(self, boundaries, values):
        if len(values) != len(boundaries) + 1:
            raise ValueError(
                f"`values` must have one more entry than `boundaries`. Received: "
                f"{len(boundaries)} boundaries, {len(values)} values"
            )
        self.boundaries, self.values = list(boundaries), [float(v) for v in values]

    def __call__(self, step):
        return self.values[bisect.bisect_left(self.boundaries, step)]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values}


class InverseTimeDecay(_RateDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)`` (floored ratio if ``staircase``)."""

    def __call__(self, step):
        return self.initial_learning_rate / (1 + self.decay_rate * self._progress(step))


class PolynomialDecay(LearningRateSchedule):
    """``(initial - end) * (1 - step / decay_steps) ** power + end``; with ``cycle`` the horizon grows by
    multiples of ``decay_steps`` instead of stopping at ``end_learning_rate``."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.end_learning_rate, self.power, self.cycle = float(end_learning_rate), float(power), bool(cycle)

    def __call__(self, step):
        steps = self.decay_steps
        if self.cycle:
            steps = steps * max(1, math.ceil(step / steps))
        else:
            step = min(step, steps)
        frac = 1 - step / steps
        return (
            self.initial_learning_rate - self.end_learning_rate
        ) * frac**self.power + self.end_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
        }


class CosineDecay(LearningRateSchedule):
    """Cosine decay from the (warmed-up) rate to ``alpha`` times it over ``decay_steps``.

    With ``warmup_steps`` and ``warmup_target``, the rate first rises linearly from
    ``initial_learning_rate`` to
    ``warmup_target`` over ``warmup_steps``, then decays from ``warmup_target``.

    Formula:
        ``lr = peak * ((1 - alpha) * 0.5 * (1 + cos(pi * min(t, decay_steps) / decay_steps)) + alpha)``,
        ``t = step - warmup_steps``.
    """

    def __init__(
        self, initial_learning_rate, decay_steps, alpha=0.0, name=None, warmup_target=None, warmup_steps=0
    ):
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = _positive("decay_steps", decay_steps)
        self.alpha = float(alpha)
        self.warmup_target = None if warmup_target is None else float(warmup_target)
        self.warmup_steps = int(warmup_steps)
        self.name = name

    def __call__(self, step):
        if self.warmup_target is not None and step < self.warmup_steps:
            frac = step / self.warmup_steps
            return self.initial_learning_rate + frac * (self.warmup_target - self.initial_learning_rate)
        peak = self.initial_learning_rate if self.warmup_target is None else self.warmup_target
        t = min(step - (self.warmup_steps if self.warmup_target is not None else 0), self.decay_steps)
        cosine = 0.5 * (1 + math.cos(math.pi * t / self.decay_steps))
        return peak * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Period ``i`` lasts ``first_decay_steps * t_mul ** i`` steps and starts from
    ``initial_learning_rate * m_mul ** i``; each decays to ``alpha`` times the initial rate.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name=None):
        self.initial_learning_rate = float(initial_learning_rate)
        self.first_decay_steps = _positive("first_decay_steps", first_decay_steps)
        self.t_mul, self.m_mul, self.alpha, self.name = float(t_mul), float(m_mul), float(alpha), name

    def __call__(self, step):
        frac = step / self.first_decay_steps
        if self.t_mul == 1.0:
            i = math.floor(frac)
            frac -= i
        else:
            i = math.floor(math.log(1 - frac * (1 - self.t_mul)) / math.log(self.t_mul))
            start = (1 - self.t_mul**i) / (1 - self.t_mul)
            frac = (frac - start) / self.t_mul**i
        cosine = 0.5 * self.m_mul**i * (1 + math.cos(math.pi * frac))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_CLASSES = {
    c.__name__: c
    for c in (
        ExponentialDecay,
        PiecewiseConstantDecay,
        InverseTimeDecay,
        PolynomialDecay,
        CosineDecay,
        CosineDecayRestarts,
    )
}
_CATALOG = Catalog("schedule", _CLASSES.values())


def serialize(schedule) -> dict:
    """``{"class_name", "config"}`` (JSON data) for a built-in schedule."""
    return _CATALOG.serialize(schedule)


def deserialize(config, custom_objects=None):
    """The schedule described by :func:`serialize`'s output (unknown class names are refused)."""
    return _CATALOG.deserialize(config, custom_objects)


__all__ = ["LearningRateSchedule", "serialize", "deserialize", *_CLASSES]
