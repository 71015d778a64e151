"""Data-parallel training in a hand-written GradientTape loop (see docs/distributed.md).

    tapeflow launch -n 2 examples/distributed_custom_loop.py

``strategy.broadcast`` gives every rank rank 0's initial weights; each step, every rank computes the gradient
of the mean loss over its slice of the global batch, and ``strategy.reduce_gradients`` (one all-reduce)
averages them weighted by the slice sizes, which is the gradient of the mean loss over the whole batch.
"""

from __future__ import annotations

import argparse

import numpy as np

import tapeflow as tp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch, over all processes")
    args = parser.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
    x_train = x_train.reshape(len(x_train), 64).astype("float32") / 16.0
    x_test = x_test.reshape(len(x_test), 64).astype("float32") / 16.0

    strategy = tp.distributed.DataParallel()
    tp.random.set_seed(strategy.rank)  # different initial weights on purpose: the broadcast fixes that
    model = tp.Sequential([
        tp.Input(shape=(64,)),
        tp.layers.Dense(64, activation="relu"),
        tp.layers.Dense(10),
    ])
    loss_fn = tp.losses.SparseCategoricalCrossentropy(from_logits=True)
    optimizer = tp.optimizers.Adam(1e-3)
    params = model.trainable_variables
    strategy.broadcast(model.weights)

    order_rng = np.random.default_rng(0)  # the same seed everywhere: every rank walks the same global batches
    for epoch in range(args.epochs):
        order = order_rng.permutation(len(x_train))
        total, count = 0.0, 0
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            lo, hi = strategy.shard_bounds(len(batch))  # this rank's slice of the global batch
            mine = batch[lo:hi]
            grads = [None] * len(params)
            if len(mine):
                with tp.GradientTape() as tape:
                    loss = loss_fn(y_train[mine], model(x_train[mine], training=True))
                grads = tape.gradient(loss, params)
                total += float(loss) * len(mine)
                count += len(mine)
            grads = strategy.reduce_gradients(grads, variables=params, weight=len(mine))
            optimizer.apply_gradients(zip(grads, params))
        epoch_loss = strategy.all_reduce(np.array([total, count]), op="sum").numpy()
        tp.distributed.print0(f"epoch {epoch + 1}: loss {epoch_loss[0] / epoch_loss[1]:.4f}")

    accuracy = float(np.mean(np.argmax(model(x_test).numpy(), axis=1) == y_test))
    tp.distributed.print0(f"test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
