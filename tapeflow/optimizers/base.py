"""The Optimizer base: learning rate (or schedule), clipping, decoupled weight decay, slots,
``apply_gradients``.

Subclasses implement ``_slot_names`` and ``update_step(gradient, variable, lr)``. Updates are written in
place into each Variable's array with NumPy ``out=`` arguments and one shared scratch buffer, so a step
allocates no full-size temporaries. Before each update the base takes the array through
``Variable._buffer()``, which copies it first when a tape or a Tensor still holds it, so an update never
changes a value already taken from the Variable (see :class:`~tapeflow.Variable`).
"""

from __future__ import annotations

import numpy as np

from tapeflow import _backend as B
from tapeflow._tensor import Tensor, Variable
from tapeflow._trace import host
from tapeflow.errors import ShapeError
from tapeflow.optimizers import schedules as _schedules


class Optimizer:
    """Base class of optimizers.

    Args:
        learning_rate: a float or a :class:`~tapeflow.optimizers.schedules.LearningRateSchedule`.
        weight_decay: decoupled weight decay: before each update ``w -= learning_rate * weight_decay * w``.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: scale all gradients together so their joint L2 norm is at most this.
        use_ema: keep an exponential moving average of each variable (Polyak averaging):
            ``ema = ema_momentum * ema + (1 - ema_momentum) * w`` after each update (``ema = w`` after the
            first).
        ema_momentum: the average's momentum.
        ema_overwrite_frequency: every this many updates, write the averages into the variables; None: only
            when :meth:`finalize_variable_values` runs (``fit`` calls it at the end of training).
        gradient_accumulation_steps: update the variables every this many steps only, with the mean of the
            gradients since the last update (a large batch on a small memory); every step still counts in
            ``iterations``.
        name: a name for the optimizer.
    """

    _slot_names: tuple = ()

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if "lr" in kwargs:
            # Keras 3 refuses Keras 2's and R's `lr` too; name the new spelling, not only "unexpected".
            raise TypeError(
                f"{type(self).__name__}: `lr` is the old Keras 2 / R name; the argument is `learning_rate`: "
                f"{type(self).__name__}(learning_rate={kwargs['lr']!r}). Received: lr={kwargs['lr']!r}"
            )
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError("Only one of `clipnorm` and `global_clipnorm` can be set. Received both.")
        for key, value in (
            ("clipnorm", clipnorm),
            ("clipvalue", clipvalue),
            ("global_clipnorm", global_clipnorm),
        ):
            if value is not None and value <= 0:
                raise ValueError(f"`{key}` must be positive. Received: {key}={value}")
        self._check_lr(learning_rate)
        self._learning_rate = learning_rate
        self.weight_decay = None if not weight_decay else float(weight_decay)
        self.clipnorm, self.clipvalue, self.global_clipnorm = clipnorm, clipvalue, global_clipnorm
        if not 0 <= ema_momentum <= 1:
            raise ValueError(f"`ema_momentum` must be in [0, 1]. Received: ema_momentum={ema_momentum}")
        for key, value in (("ema_overwrite_frequency", ema_overwrite_frequency),
                           ("gradient_accumulation_steps", gradient_accumulation_steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"`{key}` must be a positive integer or None. Received: {key}={value!r}")
        self.use_ema, self.ema_momentum = bool(use_ema), float(ema_momentum)
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.gradient_accumulation_steps = (
            gradient_accumulation_steps if gradient_accumulation_steps and gradient_accumulation_steps > 1
            else None)
        self.name = name or type(self).__name__.lower()
        self.iterations = 0
        self._slots: dict[int, list] = {}
        self._variables: list[Variable] = []
        self._scratch: dict = {}

    @staticmethod
    def _check_lr(lr):
        if isinstance(lr, _schedules.LearningRateSchedule) or callable(lr):
            return
        if isinstance(lr, bool) or not isinstance(lr, (int, float, np.floating)) or lr < 0:
            raise ValueError(
                f"`learning_rate` must be a non-negative number or a schedule. Received: learning_rate={lr!r}"
            )

    # --- learning rate --------------------------------------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate for the next update (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(self._learning_rate, _schedules.LearningRateSchedule):
            raise TypeError(
                "This optimizer was created with a learning-rate schedule, so its learning rate cannot "
                "be set to a number; create the optimizer with a float learning rate instead."
            )
        self._check_lr(value)
        self._learning_rate = float(value) if not callable(value) else value

    lr = learning_rate

    # --- state ----------------------------------------------------------------------------------------------
    def build(self, var_list):
        """Create the slots (moment estimates, ...) of each new variable; after them, its moving average
        (``use_ema``) and its gradient accumulator (``gradient_accumulation_steps``)."""
        for var in var_list:
            if id(var) not in self._slots:
                slots = [self._init_slot(name, var) for name in self._slot_names]
                if self.use_ema:
                    slots.append(B.xp.array(var._value, copy=True))
                if self.gradient_accumulation_steps:
                    slots.append(B.xp.zeros(var.shape, dtype=var.dtype))
                self._slots[id(var)] = slots
                self._variables.append(var)

    def _extra_slot(self, var, kind):
        """The moving average (``"ema"``) or the gradient accumulator (``"accumulator"``) of ``var``."""
        slots = self._slots[id(var)]
        return slots[len(self._slot_names) + (1 if kind == "accumulator" and self.use_ema else 0)]

    def _init_slot(self, name, var):
        return B.xp.zeros(var.shape, dtype=var.dtype)

    def _tmp(self, arr, k=0):
        """A scratch array shaped like ``arr``, shared by all variables (k picks one of several)."""
        key = (arr.dtype, k)
        buf = self._scratch.get(key)
        if buf is None or buf.size < arr.size:
            buf = self._scratch[key] = B.xp.empty(arr.size, dtype=arr.dtype)
        return buf[: arr.size].reshape(arr.shape)

    def variables(self) -> list:
        """The optimizer's state as arrays: ``[iterations, *slots of each variable in build order]``."""
        out = [B.xp.asarray(self.iterations, dtype=np.int64)]
        for var in self._variables:
            out.extend(self._slots[id(var)])
        return out

    def get_weights(self) -> list:
        """Host (NumPy) copies of :meth:`variables`."""
        return [np.array(B.to_numpy(a), copy=True) for a in self.variables()]

    def set_weights(self, weights):
        """Restore :meth:`get_weights`' output (the optimizer must be built for the same variables first).

        Raises:
            ValueError: when the count or a shape does not match.
        """
        mine = self.variables()
        if len(weights) != len(mine):
            raise ValueError(
                f"set_weights: optimizer '{self.name}' holds {len(mine)} arrays (build it first with "
                f"optimizer.build(model.trainable_weights)); {len(weights)} were given"
            )
        for a, w in zip(mine[1:], weights[1:]):
            if np.shape(w) != a.shape:
                raise ShapeError(f"set_weights: optimizer slot of shape {a.shape} given shape {np.shape(w)}")
        self.iterations = int(B.to_numpy(weights[0]))
        for a, w in zip(mine[1:], weights[1:]):
            a[...] = B.xp.asarray(w, dtype=a.dtype)

    # --- updates --------------------------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars):
        """Apply one update to each variable from its gradient (None gradients are skipped).

        Raises:
            ValueError: when every gradient is None (the loss does not depend on the variables).

        Example:
            >>> import tapeflow as tp
            >>> w = tp.Variable([1.0, 2.0])
            >>> tp.optimizers.SGD(0.1).apply_gradients([(tp.constant([1.0, 1.0]), w)])
            >>> w.numpy()
            array([0.9, 1.9], dtype=float32)
        """
        pairs = [(g, v) for g, v in grads_and_vars]
        kept = [(g, v) for g, v in pairs if g is not None]
        if not kept:
            names = [getattr(v, "name", "?") for _, v in pairs]
            raise ValueError(
                f"No gradients provided for any variable: {names}. Does the loss depend on them?"
            )
        for g, v in kept:
            if B.xp.shape(g) != v.shape:
                raise ShapeError(
                    f"apply_gradients: gradient of shape {B.xp.shape(g)} for variable '{v.name}' of shape "
                    f"{v.shape}"
                )
        self._apply([g for g, _ in kept], [v for _, v in kept])

    @host()  # inside a tp.function: on every call of the plan, with that call's gradients
    def _apply(self, grads, variables):
        grads = [g._value if isinstance(g, Tensor) else B.xp.asarray(g) for g in grads]
        grads = [g if g.dtype == v.dtype else g.astype(v.dtype) for g, v in zip(grads, variables)]
        self.build(variables)
        if self.gradient_accumulation_steps:
            grads = self._accumulate(grads, variables)
            if grads is None:
                self.iterations += 1
                return
        grads = self._clip(grads)
        lr = self.learning_rate
        self._t = self.iterations + 1
        self._before_updates(lr)
        for g, v in zip(grads, variables):
            w = v._buffer()  # held by no one else (copied first if a tape or a Tensor still holds it)
            if self.weight_decay:
                w *= 1.0 - lr * self.weight_decay
            self.update_step(g, v, lr)
        if self.use_ema:
            self._update_averages(variables)
        self.iterations += 1

    def _accumulate(self, grads, variables):
        """Add ``grads`` to the accumulators; on every ``gradient_accumulation_steps``-th step return their
        means (and empty the accumulators), else None."""
        accumulators = [self._extra_slot(v, "accumulator") for v in variables]
        for acc, g in zip(accumulators, grads):
            acc += g
        if (self.iterations + 1) % self.gradient_accumulation_steps:
            return None
        means = [acc / self.gradient_accumulation_steps for acc in accumulators]
        for acc in accumulators:
            acc[...] = 0
        return means

    def _update_averages(self, variables):
        momentum = self.ema_momentum if self.iterations > 0 else 0.0
        overwrite = (self.ema_overwrite_frequency is not None
                     and (self.iterations + 1) % self.ema_overwrite_frequency == 0)
        for v in variables:
            ema = self._extra_slot(v, "ema")
            ema *= momentum
            ema += (1.0 - momentum) * v._value
            if overwrite:
                v.assign(ema)

    def swap_with_averages(self, var_list):
        """Exchange each variable's value with its moving average (``use_ema``); a second call swaps back.
        (``tp.callbacks.SwapEMAWeights`` evaluates with the averages this way.)

        Raises:
            ValueError: when the optimizer keeps no averages.
        """
        if not self.use_ema:
            raise ValueError(f"optimizer '{self.name}' keeps no moving averages: create it with use_ema=True")
        for v in var_list:
            if id(v) in self._slots:
                ema = self._extra_slot(v, "ema")
                current = B.xp.array(v._value, copy=True)
                v.assign(ema)
                ema[...] = current

    def finalize_variable_values(self, var_list):
        """With ``use_ema``, write the moving averages into the variables (``fit`` runs this when training
        ends); otherwise nothing."""
        if not self.use_ema:
            return
        for v in var_list:
            if id(v) in self._slots:
                v.assign(self._extra_slot(v, "ema"))

    def apply(self, grads, trainable_variables=None):
        """Keras 3's spelling of :meth:`apply_gradients`: ``apply(grads, variables)`` with two lists.

        ``trainable_variables`` may be left out once the optimizer is built (the variables it was built for).

        Example:
            >>> import tapeflow as tp
            >>> w = tp.Variable([1.0, 2.0])
            >>> tp.optimizers.SGD(0.1).apply([tp.constant([1.0, 1.0])], [w])
            >>> w.numpy()
            array([0.9, 1.9], dtype=float32)
        """
        grads = list(grads)
        if trainable_variables is None:
            trainable_variables = list(self._variables)
            if not trainable_variables:
                raise ValueError(
                    "apply: give the variables, apply(grads, trainable_variables), the first time (the "
                    "optimizer is not built yet)"
                )
        trainable_variables = list(trainable_variables)
        if len(grads) != len(trainable_variables):
            raise ValueError(
                f"apply: {len(grads)} gradients for {len(trainable_variables)} variables; give one gradient "
                f"(or None) per variable"
            )
        self.apply_gradients(zip(grads, trainable_variables))

    def _before_updates(self, lr):
        """Per-step bookkeeping shared by all variables (override)."""

    def update_step(self, gradient, variable, lr):
        """Update ``variable`` in place from the array ``gradient`` (override)."""
        raise NotImplementedError

    def _clip(self, grads):
        # The norms stay on the backend (a scale of min(1, clip / norm)): clipping never waits for the device.
        xp = B.xp
        if self.clipvalue is not None:
            grads = [xp.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            grads = [_scaled(g, self.clipnorm, xp.sqrt(xp.sum(xp.square(g, dtype=np.float64))))
                     for g in grads]
        if self.global_clipnorm is not None:
            norm = xp.sqrt(sum(xp.sum(xp.square(g, dtype=np.float64)) for g in grads))
            grads = [_scaled(g, self.global_clipnorm, norm) for g in grads]
        return grads

    def minimize(self, loss, var_list, tape=None):
        """Compute gradients of ``loss`` (a zero-argument callable, or a tensor recorded by ``tape``) with
        respect to ``var_list`` and apply them.

        Example:
            >>> import tapeflow as tp
            >>> w = tp.Variable(3.0)
            >>> opt = tp.optimizers.SGD(0.1)
            >>> opt.minimize(lambda: w * w, [w])
            >>> round(float(w), 4)
            2.4
        """
        from tapeflow.autodiff import GradientTape

        var_list = list(var_list() if callable(var_list) else var_list)
        if callable(loss):
            with GradientTape() as tape:
                value = loss()
        elif tape is None:
            raise ValueError(
                "minimize: pass `loss` as a zero-argument callable, or pass the `tape` that recorded it"
            )
        else:
            value = loss
        grads = tape.gradient(value, var_list)
        self.apply_gradients(zip(grads, var_list))

    # --- config ---------------------------------------------------------------------------------------------
    def get_config(self) -> dict:
        lr = self._learning_rate
        if isinstance(lr, _schedules.LearningRateSchedule):
            lr = _schedules.serialize(lr)
        elif callable(lr):
            raise ValueError(
                f"Cannot serialize optimizer '{self.name}': its learning rate is a custom callable"
            )
        return {
            "name": self.name,
            "learning_rate": lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} learning_rate={self.learning_rate:g} iterations={self.iterations}>"


def _scaled(g, clip, norm):
    """``g`` scaled down so that its ``norm`` is at most ``clip`` (unchanged when already within)."""
    return g * B.xp.minimum(1.0, clip / B.xp.maximum(norm, 1e-300)).astype(g.dtype)
