"""Training curves: one run's metrics (R keras's ``plot(history)``), and several runs overlaid."""

from __future__ import annotations

import math

import numpy as np

from tapeflow.plot import _figure

_LOWER_IS_BETTER = ("loss", "error", "mse", "mae", "mape", "msle", "crossentropy", "hinge", "divergence",
                    "perplexity")


def _series(history) -> tuple[dict, list]:
    """``(metrics dict of lists, epochs)`` from a History, its ``.history`` dict, or a plain dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"expected a History or a dict of per-epoch lists. Received: "
                        f"{type(history).__name__}")
    logs = {k: [float(v) for v in vs] for k, vs in logs.items()}
    n = max((len(v) for v in logs.values()), default=0)
    epochs = list(getattr(history, "epoch", None) or range(n))
    return logs, [e + 1 for e in epochs[:n]]


def lower_is_better(metric: str) -> bool:
    """Whether smaller values of ``metric`` are better (losses and errors) or larger (accuracy, AUC)."""
    name = metric.lower()
    return any(word in name for word in _LOWER_IS_BETTER)


def best_epoch(values, metric):
    """``(index, value)`` of the best finite value of ``metric`` (None when there is none)."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(arr)
    if not ok.any():
        return None
    masked = np.where(ok, arr, np.inf if lower_is_better(metric) else -np.inf)
    i = int(np.argmin(masked) if lower_is_better(metric) else np.argmax(masked))
    return i, float(arr[i])


_NOT_METRICS = ("lr", "learning_rate")  # logged by schedulers: plot them only when asked


def _bases(logs, metrics):
    if metrics is None:
        metrics = [k for k in logs if not k.startswith("val_") and k not in _NOT_METRICS]
        metrics += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in metrics]
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        missing = [m for m in metrics if m not in logs and f"val_{m}" not in logs]
        if missing:
            raise ValueError(f"Unknown metric {missing[0]!r}. Choose from: {', '.join(sorted(logs))}")
    return metrics


def history(history, metrics=None, ax=None, save=None, title=None):
    """Plot training and validation curves, one panel per metric, with the best epoch marked.

    Validation curves pair with training curves by the ``val_`` prefix (``loss`` with ``val_loss``); the best
    epoch (lowest loss, highest accuracy) of the validation curve, or of the training curve when there is no
    validation, gets a marker and a dotted line. Also ``history.plot()``.

    Args:
        history: a History from ``fit`` (or its ``.history`` dict).
        metrics: base metric names to show (default: all in the order logged, except the learning rate).
        ax: one axes per metric; save: a path to save the figure to; title: a figure title.

    Returns:
        The Figure. In each panel: the training line, the validation line (when logged), then the best-epoch
        marker and its dotted vertical line.

    Example:
        >>> import tapeflow as tp
        >>> logs = {"loss": [1.0, 0.6, 0.5], "val_loss": [1.1, 0.7, 0.8]}
        >>> fig = tp.plot.history(logs)
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['loss', 'val_loss', 'best epoch 2: 0.7', '_best_epoch_line']
    """
    logs, epochs = _series(history)
    names = _bases(logs, metrics)
    fig, axs = _figure.panels(len(names), ax, ncols=min(len(names), 2), size=(5.0, 3.6))
    for a, name in zip(axs, names):
        color = "#1f77b4"
        for key, style in ((name, "-"), (f"val_{name}", "--")):
            if key in logs:
                vals = logs[key]
                a.plot(epochs[: len(vals)], vals, style, color=color if style == "-" else "#ff7f0e",
                       marker="o", markersize=3, label=key)
        key = f"val_{name}" if f"val_{name}" in logs else name
        best = best_epoch(logs[key], name)
        if best is not None:
            i, v = best
            a.plot([epochs[i]], [v], marker="*", markersize=14, color="#d62728", linestyle="none",
                   label=f"best epoch {epochs[i]}: {v:.4g}")
            a.axvline(epochs[i], color="#d62728", linestyle=":", linewidth=1, label="_best_epoch_line")
        _epoch_axes(a, name, legend_size=8)
    if title:
        fig.suptitle(title)
    return _figure.finish(fig, save)


def _epoch_axes(a, name, legend_size):
    """Label a per-epoch panel: epochs on x (whole numbers), the metric on y, a grid and the legend."""
    from matplotlib.ticker import MaxNLocator

    a.set_xlabel("epoch")
    a.set_ylabel(name)
    a.set_title(name)
    a.grid(alpha=0.3)
    a.legend(fontsize=legend_size)
    a.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # one epoch: tick 1, not 0.945


def diverged(values) -> bool:
    """Whether a loss curve blew up: it reached NaN/inf, or training left it higher than where it started."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.size < 2:
        return bool(arr.size and not np.isfinite(arr[0]))
    return bool(not np.all(np.isfinite(arr)) or arr[-1] > arr[0])


def compare(histories, metrics="loss", validation=True, log_scale=None, ax=None, save=None, title=None):
    """Overlay the curves of several runs, one color per run, one panel per metric.

    Runs that blew up (NaN/inf, or a final loss above the first) are labelled "diverged"; the y axis goes
    logarithmic when a panel's values span more than a factor of 100 (or as ``log_scale`` says).

    Args:
        histories: ``{label: History or dict}``.
        metrics: a base metric name or a list (default ``"loss"``); None for every metric of the first run.
        validation: also draw the ``val_`` curves, dashed.
        log_scale: force a log (True) or linear (False) y axis.
        ax: one axes per metric; save: a path to save the figure to; title: a figure title.

    Returns:
        The Figure. In each panel, per run in order: its training line, then its validation line (if drawn).

    Example:
        >>> import tapeflow as tp
        >>> runs = {"lr=1": {"loss": [1.0, 30.0, float("nan")]}, "lr=0.1": {"loss": [1.0, 0.5, 0.3]}}
        >>> fig = tp.plot.compare(runs)
        >>> [line.get_label() for line in fig.axes[0].lines]
        ['lr=1 (diverged)', 'lr=0.1']
    """
    if not histories:
        raise ValueError("compare: `histories` is empty; give {label: history, ...}")
    series = {label: _series(h) for label, h in histories.items()}
    first = next(iter(series.values()))[0]
    names = _bases(first, metrics)
    fig, axs = _figure.panels(len(names), ax, ncols=min(len(names), 2), size=(5.6, 4.0))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
               "#bcbd22", "#7f7f7f"]
    for a, name in zip(axs, names):
        finite = []
        for i, (label, (logs, epochs)) in enumerate(series.items()):
            color = palette[i % len(palette)]
            for key, style in ((name, "-"), (f"val_{name}", "--")):
                if key not in logs or (style == "--" and not validation):
                    continue
                vals = logs[key]
                tag = " (diverged)" if lower_is_better(name) and diverged(vals) else ""
                a.plot(epochs[: len(vals)], vals, style, color=color, linewidth=1.6,
                       label=f"{label}{' val' if style == '--' else ''}{tag}")
                finite += [v for v in vals if math.isfinite(v)]
        positive = [v for v in finite if v > 0]
        use_log = log_scale if log_scale is not None else (
            len(positive) == len(finite) and len(positive) > 1 and max(positive) > 100 * min(positive))
        if use_log:
            a.set_yscale("log")
        _epoch_axes(a, name, legend_size=7)
    if title:
        fig.suptitle(title)
    return _figure.finish(fig, save)


def learning_rate(rates, losses, suggestion=None, ax=None, save=None, title=None):
    """Loss against learning rate (log axis), as ``model.find_learning_rate`` sweeps it, with the suggested
    rate marked.

    Args:
        rates, losses: the sweep: the rate and the (smoothed) loss of each step.
        suggestion: the rate to mark (a dotted line and a star on the curve).
        ax: the axes to draw on; save: a path to save the figure to; title: a figure title.

    Returns:
        The Figure: the loss curve, then (with a suggestion) its marker and its dotted vertical line.

    Example:
        >>> import numpy as np, tapeflow as tp
        >>> rates = np.geomspace(1e-4, 1.0, 50); losses = 1 / (1 + 50 * rates) + rates ** 2
        >>> fig = tp.plot.learning_rate(rates, losses, suggestion=0.05)
        >>> [line.get_label() for line in fig.axes[0].lines], fig.axes[0].get_xscale()
        (['loss', 'suggested 0.05', '_suggestion_line'], 'log')
    """
    rates, losses = np.asarray(rates, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    fig, a = _figure.axes(ax, figsize=(6.0, 4.0))
    a.plot(rates, losses, color="#1f77b4", linewidth=1.6, label="loss")
    if suggestion is not None:
        at = float(np.interp(np.log(suggestion), np.log(rates), losses))
        a.plot([suggestion], [at], marker="*", markersize=14, color="#d62728", linestyle="none",
               label=f"suggested {suggestion:.3g}")
        a.axvline(suggestion, color="#d62728", linestyle=":", linewidth=1, label="_suggestion_line")
    a.set_xscale("log")
    a.set_xlabel("learning rate")
    a.set_ylabel("training loss (smoothed)")
    a.set_title(title or "Learning-rate range test")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    return _figure.finish(fig, save)
