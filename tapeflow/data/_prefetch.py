"""``Dataset.prefetch``: a producer thread that runs the pipeline ahead of the consumer.

Two promises, both tested: an exception raised while producing reaches the consumer (after the elements
produced before it), and neither side can wait forever: the producer gives up when the consumer stops (loop
exited, iterator closed or garbage-collected), and the consumer never waits on a producer that has finished.
"""

from __future__ import annotations

import queue
import threading

from tapeflow.data._transforms import _check_count, _Unary
from tapeflow.data.dataset import AUTOTUNE, Dataset

_POLL_S = 0.05  # how often a blocked producer checks whether the consumer is gone
_DONE = object()


class _Failure:
    """An exception carried from the producer thread to the consumer."""

    def __init__(self, error):
        self.error = error


class PrefetchDataset(_Unary):
    def __init__(self, input_dataset: Dataset, buffer_size):
        super().__init__(input_dataset)
        buffer_size = 2 if buffer_size == AUTOTUNE else _check_count("buffer_size", buffer_size)
        if buffer_size == 0:
            raise ValueError(
                "`buffer_size` must be a positive integer or tp.data.AUTOTUNE. Received: buffer_size=0"
            )
        self._buffer_size = buffer_size

    def _iter(self):
        items = queue.Queue(maxsize=self._buffer_size)
        stop = threading.Event()
        thread = threading.Thread(
            target=_produce, args=(self._input, items, stop), name="tapeflow-prefetch", daemon=True
        )
        thread.start()
        try:
            while True:
                item = items.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            stop.set()
            # Unblock a producer waiting on a full queue, then let it notice `stop` and exit.
            while thread.is_alive():
                try:
                    items.get_nowait()
                except queue.Empty:
                    thread.join(_POLL_S)


def _put(items: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` unless the consumer has gone; False when it has."""
    while not stop.is_set():
        try:
            items.put(item, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(dataset: Dataset, items: queue.Queue, stop: threading.Event):
    iterator = dataset._iter()
    try:
        for element in iterator:
            if not _put(items, element, stop):
                return
        _put(items, _DONE, stop)
    except BaseException as error:  # noqa: BLE001 - every failure must reach the consumer
        _put(items, _Failure(error), stop)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
