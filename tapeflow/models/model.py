"""``tp.Model``: compile / fit / evaluate / predict, the overridable ``train_step``, weights and summary.

``fit`` runs exactly what users write by hand: ``train_step`` records the forward pass and the loss on a
``tp.GradientTape``, takes the gradient of the loss with respect to ``trainable_weights``, passes it through
``reduce_gradients`` (where data-parallel training averages gradients across processes), and applies it with
the optimizer. Nothing is differentiated by any other mechanism.

``fit``, ``evaluate`` and ``predict`` consult the model's :class:`~tapeflow.callbacks.TrainingHooks` (those
active when it was compiled: a data-parallel strategy's, or none) at fixed points, the same in all three.

``tp.Model(inputs, outputs)`` builds a functional model; subclass ``tp.Model`` and write ``call`` for
anything else.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import warnings

from tapeflow import _backend as B
from tapeflow import callbacks as _callbacks
from tapeflow import optimizers as _optimizers
from tapeflow._nest import flatten, map_structure
from tapeflow._tape import no_recording
from tapeflow._tensor import Tensor
from tapeflow._trace import host
from tapeflow.autodiff import GradientTape
from tapeflow.callbacks import hooks as _hooks
from tapeflow.errors import ShapeError
from tapeflow.layers.base import Layer
from tapeflow.metrics import Mean, Metric
from tapeflow.models import _data
from tapeflow.models._compile import CompiledLoss, CompiledMetrics
from tapeflow.tracing import TracingError, function


class _CompiledStep:
    """A model step run through tp.function; eagerly (after a one-line warning) once it fails to trace."""

    def __init__(self, fn, name):
        self.python_function = fn
        self.name = name
        self.function = function(fn)
        self.eager = False

    def __call__(self, model, batch):
        if not self.eager:
            try:
                return self.function(model, batch)
            except TracingError as e:
                self.eager = True
                warnings.warn(f"jit_compile: {self.name} runs eagerly: {e}", stacklevel=3)
        return self.python_function(model, batch)


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class Model(Layer):
    """A layer with training: ``compile`` then ``fit``, ``evaluate``, ``predict``.

    Three ways to make one: ``tp.Sequential([...])``; the functional API ``tp.Model(inputs, outputs)``; or a
    subclass that creates layers in ``__init__`` and uses them in ``call(inputs, training=None)``.

    Example:
        >>> import numpy as np
        >>> import tapeflow as tp
        >>> class TwoLayer(tp.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.hidden = tp.layers.Dense(8, activation="relu")
        ...         self.out = tp.layers.Dense(1)
        ...     def call(self, x, training=None):
        ...         return self.out(self.hidden(x))
        >>> model = TwoLayer()
        >>> model.compile(optimizer="adam", loss="mse")
        >>> history = model.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=2, verbose=0)
        >>> len(history.history["loss"]), len(model.trainable_weights)
        (2, 4)
    """

    def __new__(cls, *args, **kwargs):
        if args or "inputs" in kwargs or "outputs" in kwargs:
            from tapeflow.models.functional import Functional

            if cls is Model:
                return Functional.__new__(Functional)
            if not issubclass(cls, Functional) and _functional_arguments(args, kwargs):
                # Keras's rule: a subclass called with (inputs, outputs) is a functional model that keeps the
                # subclass's methods (a custom train_step, say)
                return Functional.__new__(_functional_subclass(cls, Functional))
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(
                f"{type(self).__name__}() takes keyword arguments only (name=, trainable=, dtype=); "
                f"received positional {args!r}"
            )
        super().__init__(**kwargs)
        d = self.__dict__
        d["optimizer"] = None
        d["compiled_loss"] = None
        d["compiled_metrics"] = None
        d["loss"] = None
        d["stop_training"] = False
        d["stop_reason"] = None
        d["history"] = None
        d["_loss_trackers"] = []
        d["_train_vars"] = None
        d["_compiled"] = False
        d["_weighted_metrics"] = None
        d["_training_hooks"] = None  # chosen at compile
        d["_running_hooks"] = _hooks.NO_HOOKS  # those of the fit/evaluate/predict call running

    # Models pass inputs to their layers unchanged (an Embedding needs its integer indices).
    def _convert(self, x):
        return x if isinstance(x, Tensor) else Tensor(x)

    def _build_from(self, inputs):
        shapes = map_structure(lambda t: tuple(t.shape), inputs)
        from tapeflow.layers.shapes import map_shapes

        self._build_input_shape = map_shapes(lambda s: (None, *s[1:]), shapes)
        self.built = True  # the layers inside build themselves on this first call

    def build(self, input_shape):
        """Create every weight by running the model once on placeholder zeros of ``input_shape``
        (batch ``None`` allowed)."""
        from tapeflow.layers._budget import check_activation
        from tapeflow.layers.shapes import is_shape, map_shapes

        shape = tuple(input_shape) if is_shape(tuple(input_shape)) else input_shape
        map_shapes(lambda s: check_activation(self, (1, *s[1:]), self.dtype, "input"), shape)  # while loading
        dummy = map_shapes(
            lambda s: B.xp.zeros(tuple(1 if d is None else d for d in s), dtype=self.dtype), shape
        )
        with no_recording():
            self(dummy, training=False)
        self._build_input_shape = map_shapes(lambda s: (None, *s[1:]), shape)

    # --- the graph (functional and Sequential models; feature extraction) ---------------------------------
    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (or at position ``index`` of :attr:`layers`).

        Raises:
            ValueError: for an unknown name (listing the layers' names) or an index out of range.
        """
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"get_layer: index {index} is out of range; the model has {len(layers)} layers"
                )
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"get_layer: no layer named {name!r}. The layers are {[layer.name for layer in layers]}"
        )

    @property
    def inputs(self):
        """The symbolic inputs (functional and Sequential models)."""
        raise AttributeError(
            f"Model '{self.name}' ({type(self).__name__}) is subclassed: it has no symbolic inputs. Build it "
            f"with the functional API (tp.Model(inputs, outputs)) to take features from its layers."
        )

    @property
    def outputs(self):
        """The symbolic outputs (functional and Sequential models)."""
        raise AttributeError(
            f"Model '{self.name}' ({type(self).__name__}) is subclassed: it has no symbolic outputs."
        )

    @property
    def input(self):
        """The symbolic input (a list when there are several)."""
        inputs = self.inputs
        return inputs[0] if len(inputs) == 1 else inputs

    @property
    def output(self):
        """The symbolic output (a list when there are several)."""
        outputs = self.outputs
        return outputs[0] if len(outputs) == 1 else outputs

    # --- compile --------------------------------------------------------------------------------------------
    @property
    def output_names(self):
        return [self.name] if not hasattr(self, "_output_names") else self._output_names

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        run_eagerly=None,
        steps_per_execution=None,
        jit_compile=None,
        **kwargs,
    ):
        """Choose the optimizer, loss and metrics for training.

        Args:
        The positional order is Keras 3's (``optimizer, loss, loss_weights, metrics``); a third positional
        argument that is plainly metrics (names, Metric objects) is read as metrics, as tf.keras's order had
        it.

        Args:
            optimizer: a name (``"adam"``, ``"sgd"``, ...) or an optimizer object.
            loss: a name, Loss or function; for several outputs a list or a dict by output name. None is
                allowed for a model whose own ``train_step`` computes its loss (the built-in step then
                raises).
            loss_weights: weights of each output's loss in the total.
            metrics: names or Metric objects (``"accuracy"`` is resolved from the loss, as in Keras); for
                several outputs a list of lists or a dict.
            weighted_metrics: metrics that also apply the sample weights.
            run_eagerly: accepted; tapeflow always runs eagerly unless ``jit_compile=True``.
            steps_per_execution: accepted, with a warning when it asks for several steps per call.
            jit_compile: True runs ``train_step``, ``test_step`` and ``predict_step`` (also overridden ones)
                through :func:`tapeflow.function`: each is traced once per batch shape and then runs as a
                compiled plan; a step that cannot be traced runs eagerly, with a one-line warning saying why.
                ``"auto"`` and None run eagerly.

        Raises:
            ValueError: for unknown names (listing the choices).
        """
        if kwargs:
            raise TypeError(f"compile: unexpected keyword argument(s) {sorted(kwargs)}")
        if metrics is None and _looks_like_metrics(loss_weights):
            metrics, loss_weights = loss_weights, None
        if steps_per_execution not in (None, 1):
            warnings.warn(
                f"compile(steps_per_execution={steps_per_execution}): tapeflow runs one step per call; "
                f"the setting has no effect",
                UserWarning,
                stacklevel=2,
            )
        self.optimizer = _optimizers.get(optimizer)
        self.loss = loss
        # kept as given, for model.save (tapeflow.saving serializes them)
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights,
                              "weighted_metrics": weighted_metrics}
        names = self.output_names
        self.compiled_loss = CompiledLoss(loss, loss_weights, names)
        self.compiled_metrics = CompiledMetrics(metrics, self.compiled_loss.losses, names)
        self._weighted_metrics = (
            CompiledMetrics(weighted_metrics, self.compiled_loss.losses, names, weighted=True)
            if weighted_metrics
            else None
        )
        trackers = [_LossTracker(name="loss")]
        if len(names) > 1:
            losses = self.compiled_loss.losses
            trackers += [_LossTracker(name=f"{n}_loss") for n, fn in zip(names, losses) if fn]
        self._loss_trackers = trackers
        self.compiled_loss.trackers = trackers
        self._compiled = True
        self.__dict__["_jit"] = jit_compile is True and not run_eagerly
        self.__dict__["_step_functions"] = {}  # name -> _CompiledStep
        # a model compiled inside `hooks.scope()` (a strategy's) runs its loops with those hooks
        self.__dict__["_training_hooks"] = _hooks.current()

    @property
    def training_hooks(self):
        """The :class:`~tapeflow.callbacks.TrainingHooks` that ``fit``, ``evaluate`` and ``predict`` consult:
        those whose ``scope()`` was active at ``compile`` (a :class:`~tapeflow.distributed.DataParallel`
        strategy, say), or ``None``."""
        return self.__dict__.get("_training_hooks")

    def _assert_compiled(self, what):
        if not self._compiled:
            raise RuntimeError(
                f"{what}: the model must be compiled first: call model.compile(optimizer=..., loss=...)"
            )

    @property
    def metrics(self):
        """The loss trackers, the compiled metrics, and Metric objects held as attributes of the model.

        The compiled metrics are here from ``compile`` on (only an ``"accuracy"`` that needs the first
        batch's shapes to pick its kind joins after that batch). A subclass may override this property to
        list its own trackers: ``fit`` resets whatever it lists at the start of every epoch, and ``evaluate``
        before it runs.
        """
        out = list(self._loss_trackers)
        for cm in (self.compiled_metrics, getattr(self, "_weighted_metrics", None)):
            if cm is not None and cm.metrics:
                out.extend(m for _, m in cm.metrics)
        for key, value in self.__dict__.items():
            if isinstance(value, Metric) and not key.startswith("_") and all(value is not m for m in out):
                out.append(value)
        return out

    @property
    def metrics_names(self):
        return [m.name for m in self.metrics]

    def reset_metrics(self):
        """Reset every metric: those :attr:`metrics` lists (an overridden property included) and the compiled
        ones."""
        for m in self.metrics:
            m.reset_state()
        for m in self._loss_trackers:
            m.reset_state()
        for cm in (self.compiled_metrics, getattr(self, "_weighted_metrics", None)):
            if cm is not None:
                cm.reset()

    # --- the steps ------------------------------------------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        """The total loss: compiled losses plus ``self.losses`` (regularization); updates the loss
        trackers (weighted by the batch size).

        A custom ``train_step`` written for Keras 3 may also pass this loss to the ``"loss"`` tracker of
        :attr:`metrics` itself; that second update of the same loss is not counted twice.

        Raises:
            ValueError: when the model was compiled without a loss and has no ``self.losses`` either.
        """
        self._assert_compiled("compute_loss")
        try:
            return self.compiled_loss.total(y, y_pred, sample_weight, self.losses)
        except ShapeError as e:
            hint = _rank_hint(self, y, y_pred)
            if hint is None:
                raise
            raise ShapeError(f"{e}\n{hint}") from None  # one short message, not a chain of re-raises

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Update the compiled metrics with a batch; return the logs (floats)."""
        self.compiled_metrics.update(y, y_pred, sample_weight)
        if self._weighted_metrics is not None:
            self._weighted_metrics.update(y, y_pred, sample_weight)
        return self.get_metrics_result()

    @host(run=True)  # inside a tp.function: read on every call
    def get_metrics_result(self):
        """``{name: float}`` of every metric in :attr:`metrics` now (the step's one read from the backend)."""
        logs = {}
        for m in self.metrics:
            value = m._value()
            logs[m.name] = float(value) if B.xp.ndim(value) == 0 else B.to_numpy(value)
        return logs

    def train_step(self, data):
        """One training step; returns the logs. Override to customize.

        ``data`` is what Keras passes: ``(x, y)``, ``(x, y, sample_weight)``, or ``x`` alone when there are
        no targets (a tuple of several inputs then comes as ``(x,)``); a Dataset's elements come as they are.

        Example:
            >>> import numpy as np
            >>> import tapeflow as tp
            >>> model = tp.Sequential([tp.layers.Dense(1, input_shape=(2,))])
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> sorted(model.train_step((np.ones((4, 2)), np.zeros((4, 1)))))
            ['loss']
        """
        x, y, sample_weight = _data.unpack(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x, y, y_pred, sample_weight)
        variables = self._train_vars
        if variables is None:
            variables = self.trainable_weights
        grads = tape.gradient(loss, variables)
        grads = self.reduce_gradients(grads)
        self.optimizer.apply_gradients(zip(grads, variables))
        if self._has_constraints:
            self._apply_constraints()
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def _step(self, name):
        """``self.<name>`` (``train_step``, ...), through tp.function when compiled with jit_compile=True."""
        step = getattr(self, name)
        if not self.__dict__.get("_jit"):
            return step
        fn = getattr(step, "__func__", step)
        known = self._step_functions.get(name)
        if known is None or known.python_function is not fn:
            known = self._step_functions[name] = _CompiledStep(fn, name)
        return functools.partial(known, self)

    def reduce_gradients(self, grads):
        """The gradients to apply, given this process's: what the running loop's
        :meth:`TrainingHooks.reduce_gradients <tapeflow.callbacks.TrainingHooks.reduce_gradients>` makes of
        them (under a data-parallel strategy, their average over processes; otherwise ``grads`` unchanged).

        A ``train_step`` of your own calls it between ``tape.gradient`` and ``apply_gradients``, as the
        built-in one does.
        """
        return self.__dict__.get("_running_hooks", _hooks.NO_HOOKS).reduce_gradients(grads)

    def _loop_hooks(self, loop):
        """The training hooks for one call of ``loop`` (``"fit"``, ``"evaluate"``, ``"predict"``)."""
        return (self.__dict__.get("_training_hooks") or _hooks.NO_HOOKS).begin(self, loop)

    def _step_for(self, name, hooks):
        """``self.<name>`` as the loops hand it to ``hooks.run_batch``: through tp.function where the model
        and the hooks allow, and with a ``name`` (a partial: no frame of its own in a traceback)."""
        step = functools.partial(self._step(name) if hooks.compiled_steps else getattr(self, name))
        step.name = name
        return step

    @contextlib.contextmanager
    def _running(self, hooks):
        """``hooks`` answer :meth:`reduce_gradients` during the block; ``hooks.end()`` when it ends. The
        trainable variables ``fit`` keeps for its steps are looked up again afterwards."""
        previous = self.__dict__.get("_running_hooks", _hooks.NO_HOOKS)
        self.__dict__["_running_hooks"] = hooks
        try:
            yield hooks
        finally:
            self.__dict__["_running_hooks"] = previous
            self._train_vars = None
            hooks.end()

    def test_step(self, data):
        """One evaluation step: forward pass (``training=False``), loss and metrics; returns the logs."""
        x, y, sample_weight = _data.unpack(data)
        y_pred = self(x, training=False)
        self.compute_loss(x, y, y_pred, sample_weight)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data):
        """One prediction step: the forward pass with ``training=False``."""
        x, _, _ = _data.unpack(data)
        return self(x, training=False)

    @property
    def _has_constraints(self):
        return any(layer._constraints for layer in self._flatten_layers())

    # --- fit / evaluate / predict ---------------------------------------------------------------------------
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
    ):
        """Train for ``epochs`` epochs; returns a :class:`~tapeflow.callbacks.History`.

        Args:
            x, y: inputs and targets (arrays/Tensors; lists or dicts of them for several inputs/outputs).
            batch_size: samples per step (default 32).
            epochs: the index of the last epoch (training starts at ``initial_epoch``).
            verbose: 0 silent, 1 progress bar, 2 one line per epoch, ``"auto"`` (1 on a terminal or notebook,
                2 in logs).
            callbacks: a list of :class:`~tapeflow.callbacks.Callback`.
            validation_split: the fraction of the data, taken from the end before shuffling, held out for
                validation (warns when that slice holds a single class).
            validation_data: ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)``.
            shuffle: reshuffle the training samples every epoch.
            class_weight: ``{class: weight}`` scaling each sample's loss by its class.
            sample_weight: per-sample loss weights.
            initial_epoch: the epoch to start from (to resume).
            steps_per_epoch: batches per epoch (default: one pass over the data).
            validation_steps, validation_batch_size, validation_freq: validation batching and how often (every
                ``validation_freq`` epochs).

        Returns:
            The History: ``history.history`` has ``loss``, metrics and ``val_*`` per epoch; ``history.seed``.

        Raises:
            RuntimeError: before ``compile``. ValueError: for x and y of different lengths, labels out of
            range for the loss, shapes that do not fit the first layer.
        """
        self._assert_compiled("fit")
        _check_count("fit", "batch_size", batch_size, allow_none=True)
        _check_count("fit", "validation_batch_size", validation_batch_size, allow_none=True)
        _check_count("fit", "epochs", epochs, minimum=0)
        _check_count("fit", "initial_epoch", initial_epoch, minimum=0)
        _check_count("fit", "validation_freq", validation_freq)
        if initial_epoch > epochs:
            raise ValueError(f"fit: `initial_epoch` must not exceed `epochs` (the index of the last epoch). "
                             f"Received: initial_epoch={initial_epoch}, epochs={epochs}")
        if validation_split and validation_data is None:
            (x, y, sample_weight), validation_data = _data.train_validation_split(
                x, y, sample_weight, validation_split
            )
        data = _data.adapt(
            x,
            y,
            sample_weight,
            batch_size=32 if batch_size is None else batch_size,
            shuffle=shuffle,
            steps_per_epoch=steps_per_epoch,
            class_weight=class_weight,
            dtype=self.dtype,
        )
        val = None
        if validation_data is not None:
            vx, vy, vsw = _unpack_validation(validation_data)
            val = _data.adapt(
                vx,
                vy,
                vsw,
                batch_size=validation_batch_size or batch_size or 32,  # each checked above
                steps_per_epoch=validation_steps,
                dtype=self.dtype,
            )
        verbose = _callbacks.resolve_verbose(verbose)
        hooks = self._loop_hooks("fit")
        with self._running(hooks):
            data = hooks.data(data)
            val = None if val is None else hooks.data(val)
            callbacks, verbose = hooks.callbacks(list(callbacks or []), verbose)
            self.history = _callbacks.History()
            cbs = [self.history, *callbacks]
            if verbose and not any(isinstance(c, _callbacks.ProgbarLogger) for c in cbs):
                cbs.append(_callbacks.ProgbarLogger(verbose))
            params = {
                "epochs": epochs,
                "steps": data.steps,
                "verbose": verbose,
                "batch_size": data.batch_size,
                "samples": data.num_samples,
                "_in_fit": True,
            }
            cbl = _callbacks.CallbackList(cbs, model=self, params=params)
            self.stop_training = False
            self.stop_reason = None
            self._train_vars = None
            logs = {}
            cbl.call("on_train_begin", logs)
            initial_epoch = cbl.resume_epoch(initial_epoch)  # BackupAndRestore resumes after its backup
            train = self._step_for("train_step", hooks)
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                cbl.call("on_epoch_begin", epoch, {})
                step_logs = {}
                for step, batch in enumerate(data.epoch()):
                    cbl.call("on_train_batch_begin", step, {})
                    step_logs = _logs(hooks.run_batch(train, _packed(batch)))
                    if self._train_vars is None:
                        self._train_vars = self.trainable_weights
                    cbl.call("on_train_batch_end", step, step_logs)
                    if self.stop_training:
                        break
                hooks.end_epoch(epoch)
                logs = dict(step_logs)
                if val is not None and (epoch + 1) % validation_freq == 0 and not self._nan_stop():
                    val_logs = self._run_evaluation(val, cbl, hooks)
                    logs.update({f"val_{k}": v for k, v in val_logs.items()})
                _warn_nan(logs, epoch, advise=not any(isinstance(c, _callbacks.TerminateOnNaN) for c in cbs))
                cbl.call("on_epoch_end", epoch, logs)
                if self.stop_training:
                    break
            self.optimizer.finalize_variable_values(self.trainable_weights)  # use_ema: the averages are kept
            cbl.call("on_train_end", logs)
            return self.history

    def _nan_stop(self):
        return self.stop_training and self.stop_reason is not None

    def _run_evaluation(self, data, cbl, hooks):
        self.reset_metrics()
        cbl.call("on_test_begin", {})
        logs = {}
        test = self._step_for("test_step", hooks)
        for step, batch in enumerate(data.epoch()):
            cbl.call("on_test_batch_begin", step, {})
            logs = _logs(hooks.run_batch(test, _packed(batch)))
            cbl.call("on_test_batch_end", step, logs)
        cbl.call("on_test_end", logs)
        return logs

    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
    ):
        """The loss and metrics on ``(x, y)``, in batches.

        Returns:
            The loss (a float) when there are no metrics, else ``[loss, *metrics]``; a dict with
            ``return_dict=True``.
        """
        self._assert_compiled("evaluate")
        hooks = self._loop_hooks("evaluate")
        with self._running(hooks):
            data, cbl = self._batches_and_callbacks(hooks, x, y, sample_weight, batch_size, steps, verbose,
                                                    callbacks)
            logs = self._run_evaluation(data, cbl, hooks)
        return _results(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x``, computed in batches, as NumPy arrays (a list for several outputs).

        ``verbose="auto"`` shows a progress bar on an interactive terminal or notebook and nothing in logs
        (Keras prints one line there; a prediction is rarely worth a log line).
        """
        if verbose == "auto":
            verbose = 1 if _callbacks.resolve_verbose("auto") == 1 else 0
        hooks = self._loop_hooks("predict")
        with self._running(hooks):
            data, cbl = self._batches_and_callbacks(hooks, x, None, None, batch_size, steps, verbose,
                                                    callbacks)
            cbl.call("on_predict_begin", {})
            outputs = []
            predict = self._step_for("predict_step", hooks)
            for step, batch in enumerate(data.epoch()):
                cbl.call("on_predict_batch_begin", step, {})
                out = hooks.run_batch(predict, _packed(batch))
                outputs.append(map_structure(lambda t: t._value if isinstance(t, Tensor) else t, out))
                cbl.call("on_predict_batch_end", step, {"outputs": out})
            cbl.call("on_predict_end", {})
        if not outputs:
            raise ValueError("predict: no batches (empty input)")
        first = outputs[0]  # joined on the backend, then brought to the host once per output
        if isinstance(first, (list, tuple)):
            return [B.to_numpy(B.xp.concatenate([o[i] for o in outputs])) for i in range(len(first))]
        if isinstance(first, dict):
            return {k: B.to_numpy(B.xp.concatenate([o[k] for o in outputs])) for k in first}
        return B.to_numpy(outputs[0] if len(outputs) == 1 else B.xp.concatenate(outputs))

    def _batches_and_callbacks(self, hooks, x, y, sample_weight, batch_size, steps, verbose, callbacks):
        """The data adapter and the callback list (plus a progress bar if ``verbose``) of evaluate/predict, as
        ``hooks`` leave them."""
        _check_count("evaluate" if y is not None else "predict", "batch_size", batch_size, allow_none=True)
        data = hooks.data(_data.adapt(
            x, y, sample_weight, batch_size=32 if batch_size is None else batch_size, steps_per_epoch=steps,
            dtype=self.dtype,
        ))
        cbs, verbose = hooks.callbacks(list(callbacks or []), _callbacks.resolve_verbose(verbose))
        if verbose:
            cbs.append(_callbacks.ProgbarLogger(verbose))
        params = {"steps": data.steps, "verbose": verbose}
        return data, _callbacks.CallbackList(cbs, model=self, params=params)

    def train_on_batch(
        self, x, y=None, sample_weight=None, class_weight=None, return_dict=False, reset_metrics=True
    ):
        """One training step on exactly this batch; returns the loss (and metrics) as ``evaluate`` does."""
        self._assert_compiled("train_on_batch")
        if reset_metrics:
            self.reset_metrics()
        x, y = _data.to_numpy(x, self.dtype), _data.to_numpy(y, self.dtype) if y is not None else None
        _data.num_samples(x, y, sample_weight)
        sample_weight = _data.class_weights_to_sample_weights(y, class_weight, sample_weight)
        logs = _logs(self._step("train_step")(_data.pack(x, y, sample_weight)))
        return _results(logs, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False, reset_metrics=True):
        """Loss (and metrics) on exactly this batch, without training."""
        self._assert_compiled("test_on_batch")
        if reset_metrics:
            self.reset_metrics()
        x, y = _data.to_numpy(x, self.dtype), _data.to_numpy(y, self.dtype) if y is not None else None
        _data.num_samples(x, y, sample_weight)
        return _results(_logs(self._step("test_step")(_data.pack(x, y, sample_weight))), return_dict)

    def predict_on_batch(self, x):
        """Outputs for exactly this batch, as NumPy arrays."""
        out = self._step("predict_step")(_data.pack(_data.to_numpy(x, self.dtype)))
        return map_structure(lambda t: B.to_numpy(t._value) if isinstance(t, Tensor) else t, out)

    # --- on disk (tapeflow.saving does the work) ------------------------------------------------------------
    def save(self, filepath, overwrite=True, include_optimizer=True):
        """Save architecture, compile settings, weights and optimizer state to one ``.tapeflow`` file,
        atomically; reload with ``tp.models.load_model``. See :func:`tapeflow.saving.save_model`."""
        from tapeflow.saving import save_model

        save_model(self, filepath, overwrite=overwrite, include_optimizer=include_optimizer)

    def save_weights(self, filepath, overwrite=True):
        """Write every weight to ``filepath`` atomically (``.safetensors``, or a ``.tapeflow`` archive for
        other names). See :func:`tapeflow.saving.save_weights`.

        Raises:
            FileExistsError: with ``overwrite=False`` when the file exists.
        """
        import os

        from tapeflow.saving import save_weights

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save_weights: {os.fspath(filepath)!r} exists and overwrite=False")
        save_weights(self, filepath)

    def load_weights(self, filepath, skip_mismatch=False):
        """Set every weight from a file of :meth:`save_weights` or :meth:`save` (same architecture; every
        shape and dtype checked first; ``skip_mismatch=True`` keeps the weights whose shape differs, with a
        warning). See :func:`tapeflow.saving.load_weights`."""
        from tapeflow.saving import load_weights

        load_weights(self, filepath, skip_mismatch=skip_mismatch)

    def export(self, filepath, format="onnx", **kwargs):
        """Export the model for inference elsewhere: ``format="onnx"`` writes an ONNX file (needs the
        ``onnx`` extra). See :func:`tapeflow.saving.export_onnx`."""
        from tapeflow.saving import export

        export(self, filepath, format=format, **kwargs)

    # --- learning rate -------------------------------------------------------------------------------------
    def find_learning_rate(self, x, y=None, start=1e-6, stop=10.0, steps=200, batch_size=32, plot=True,
                           save=None):
        """Find a good learning rate: sweep it exponentially from ``start`` to ``stop`` over ``steps``
        mini-batches from the current weights, put the weights back exactly, plot loss against rate with the
        suggestion marked, and return the suggestion (a float; ``.rates``, ``.losses``, ``.figure`` hold the
        sweep). See :func:`tapeflow.models.lr_finder.find_learning_rate`.

        Example:
            >>> import numpy as np, tapeflow as tp
            >>> rng = np.random.default_rng(0)
            >>> x = rng.normal(size=(256, 1)).astype("float32")
            >>> y = 3 * x + 1 + 0.1 * rng.normal(size=(256, 1))
            >>> model = tp.Sequential([tp.Input((1,)), tp.layers.Dense(1)])
            >>> model.compile(optimizer="sgd", loss="mse")
            >>> lr = model.find_learning_rate(x, y, plot=False)
            >>> 0.05 < lr < 0.5     # SGD on this problem diverges above a rate of about 1
            True
        """
        from tapeflow.models.lr_finder import find_learning_rate

        return find_learning_rate(self, x, y, start=start, stop=stop, steps=steps, batch_size=batch_size,
                                  plot=plot, save=save)

    # --- summary --------------------------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print a table of the layers, their output shapes and parameter counts, and the totals (in a
        notebook, without ``print_fn``: show it as an HTML table).

        ``positions`` sets where the columns end (fractions of ``line_length``, or character positions);
        ``layer_range=(first name, last name)`` prints only those layers and the ones between.

        Raises:
            ValueError: when the model is not built yet (it does not know its input shape).
        """
        from tapeflow._notebook import in_notebook
        from tapeflow.models.summary import print_summary, summary_html

        if print_fn is None and in_notebook():
            from IPython.display import HTML, display

            display(HTML(summary_html(self, show_trainable=show_trainable, layer_range=layer_range)))
            return
        print_summary(self, line_length=line_length, print_fn=print_fn, show_trainable=show_trainable,
                      positions=positions, layer_range=layer_range)

    def get_config(self):
        raise NotImplementedError(
            f"{type(self).__name__} is a subclassed model: implement get_config() (and from_config) to "
            f"serialize it, or save its weights with save_weights()."
        )

    @classmethod
    def from_config(cls, config):
        """Rebuild a model from its config; ``tp.Model.from_config`` takes a functional model's config too,
        as in Keras."""
        functional = isinstance(config, dict) and {"layers", "input_layers", "output_layers"} <= config.keys()
        if cls is Model and functional:
            from tapeflow.models.functional import Functional

            return Functional.from_config(config)
        return super().from_config(config)


class _LossTracker(Mean):
    """The mean loss over an epoch. ``compute_loss`` counts each batch's loss; a Keras 3 ``train_step`` that
    also passes that same loss tensor to this tracker is not counted twice."""

    def reset_state(self):
        super().reset_state()
        self._counted = None

    @host()  # inside a tp.function: on every call, with that call's loss
    def count_loss(self, loss, batch_size):
        self._counted = loss._value  # the array: a traced step hands each host call its own Tensor of it
        super().update_state(loss._value, sample_weight=batch_size)  # stays on the backend: no wait

    def update_state(self, values, sample_weight=None):
        if isinstance(values, Tensor) and values._value is self._counted:
            return
        super().update_state(values, sample_weight)


def _functional_arguments(args, kwargs):
    """Whether a Model subclass was called as ``Sub(inputs, outputs)`` (Keras's functional signature)."""
    from tapeflow.layers.symbolic import SymbolicTensor

    rest = list(args) + [kwargs[k] for k in ("inputs", "outputs") if k in kwargs]
    if len(rest) != 2:
        return False
    leaves = [flatten(part) for part in rest]
    return all(part and all(isinstance(t, SymbolicTensor) for t in part) for part in leaves)


_FUNCTIONAL_SUBCLASSES = {}


def _functional_subclass(cls, functional):
    """``cls`` with the functional model's graph behind it (one class per subclass, made once)."""
    sub = _FUNCTIONAL_SUBCLASSES.get(cls)
    if sub is None:
        sub = type(cls.__name__, (cls, functional), {"__module__": cls.__module__,
                                                     "__qualname__": cls.__qualname__})
        _FUNCTIONAL_SUBCLASSES[cls] = sub
    return sub


def _packed(batch):
    """A batch of a data adapter as the steps take it: ``(x, y, sample_weight)`` packed as Keras passes it."""
    return _data.pack(*batch) if isinstance(batch, tuple) else batch


def _looks_like_metrics(value):
    """True for a value that can only be metrics (names, Metric objects), never loss weights."""
    items = flatten(value) if isinstance(value, (list, tuple, dict)) else [value]
    return bool(items) and all(isinstance(v, (str, Metric)) for v in items)


def _logs(logs):
    """Step logs as Python floats (a Tensor a custom step returned becomes its value; a nested dict of
    results is flattened into the logs, as Keras does)."""
    if logs is None:
        return {}
    out = {}
    for key, value in logs.items():
        if isinstance(value, dict):
            out.update(_logs(value))
            continue
        if isinstance(value, Tensor):
            value = value._value
        if B.xp.ndim(value) == 0 and not isinstance(value, str):
            value = float(value)
        out[key] = value
    return out


def _check_count(method, name, value, minimum=1, allow_none=False):
    """Refuse a count argument that is not an integer >= ``minimum`` (``batch_size=0`` used to mean 32)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{method}: `{name}` must be {kind}. Received: {name}={value!r}")


def _rank_hint(model, y, y_pred):
    """Why predictions have more axes than labels, when the cause is a Dense fed samples of several axes
    (images without a Flatten): the first such Dense, its input shape and the fix; else None."""
    from tapeflow.layers import Dense

    labels, preds = flatten(y), flatten(y_pred)
    if not any(hasattr(t, "ndim") and hasattr(p, "ndim") and p.ndim > t.ndim for t, p in zip(labels, preds)):
        return None
    for layer in model._flatten_layers():
        if not isinstance(layer, Dense) or not layer.built:
            continue
        shape = layer.input_shape
        if isinstance(shape, tuple) and len(shape) > 2:
            return (
                f"Dense layer '{layer.name}' received inputs of shape {shape}: more axes than a Dense "
                f"expects (it maps only the last axis and keeps the others, so the model's output has "
                f"{len(shape)} axes). Add tp.layers.Flatten() before it to treat each sample as one vector."
            )
    return None


def _unpack_validation(validation_data):
    if isinstance(validation_data, tuple) and len(validation_data) in (1, 2, 3):  # (x_val,): no targets
        return validation_data + (None,) * (3 - len(validation_data))
    if _data.is_batch_source(validation_data):  # a Dataset, generator or Sequence yields (x, y) itself
        return validation_data, None, None
    raise ValueError(
        "`validation_data` must be a tuple (x_val, y_val) or (x_val, y_val, sample_weight_val), or a "
        "tp.data.Dataset / generator / Sequence of such batches. "
        f"Received: {type(validation_data).__name__}"
    )


def _results(logs, return_dict):
    if return_dict:
        return dict(logs)
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _warn_nan(logs, epoch, advise=True):
    loss = logs.get("loss")
    if loss is not None and not math.isfinite(loss):
        tip = "; add tp.callbacks.TerminateOnNaN() to stop at the first bad batch" if advise else ""
        warnings.warn(
            f"Epoch {epoch + 1}: the training loss is {loss}. Training diverged (try a smaller "
            f"learning rate){tip}.",
            UserWarning,
            stacklevel=3,
        )
