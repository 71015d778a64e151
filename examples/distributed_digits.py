"""Data-parallel training: one MLP trained by several processes together (see docs/distributed.md).

Run it on 2 processes (or 1: then it trains alone, unchanged):

    tapeflow launch -n 2 examples/distributed_digits.py
    mpiexec -n 2 python examples/distributed_digits.py --epochs 20

Every process loads the same data and builds the same model; inside ``fit`` rank 0's initial weights are
broadcast, each rank trains on its share of every global batch, gradients and metrics are averaged over ranks,
and only rank 0 prints and writes the checkpoint.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import tapeflow as tp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch, over all processes")
    parser.add_argument("--out", default=os.path.join(tempfile.gettempdir(), "distributed_digits"))
    args = parser.parse_args(argv)

    tp.random.set_seed(0)
    (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), 64).astype("float32") / 16.0

    strategy = tp.distributed.DataParallel()
    tp.distributed.print0(f"training on {strategy.size} process(es), global batch {args.batch_size}")
    with strategy.scope():
        model = tp.Sequential([
            tp.Input(shape=(64,)),
            tp.layers.Dense(128, activation="relu"),
            tp.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=tp.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])

    checkpoint = tp.callbacks.ModelCheckpoint(os.path.join(args.out, "digits.safetensors"),
                                              save_weights_only=True, save_best_only=True, monitor="val_loss")
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
              validation_data=(x_test, y_test), callbacks=[checkpoint])

    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    tp.distributed.print0(f"test accuracy {accuracy:.4f} (loss {loss:.4f})")
    return accuracy


if __name__ == "__main__":
    main()
