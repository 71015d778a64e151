"""A training script run (and killed, and run again) by the BackupAndRestore crash test.

Usage: python backup_child.py FOLDER EPOCHS

Seeded, with shuffling, Dropout from the global generator, a seeded Dropout with its own generator and
Adam: everything a resumed run must restore to match an uninterrupted one. Prints "start" once set up,
"epoch N" after each epoch, and saves the final weights to FOLDER/final.safetensors.
"""

import os
import sys

import numpy as np

import tapeflow as tp


class Say(tp.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(f"epoch {epoch + 1}", flush=True)


def main():
    folder, epochs = sys.argv[1], int(sys.argv[2])
    tp.random.set_seed(1234)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 8)).astype("float32")
    y = (x[:, :3].sum(axis=1) > 0).astype("int32")
    model = tp.Sequential([
        tp.Input(shape=(8,)),
        tp.layers.Dense(16, activation="relu"),
        tp.layers.Dropout(0.2),
        tp.layers.Dense(16, activation="relu"),
        tp.layers.Dropout(0.3, seed=9),
        tp.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print("start", flush=True)
    backup = tp.callbacks.BackupAndRestore(os.path.join(folder, "backup"))
    history = model.fit(x, y, batch_size=16, epochs=epochs, callbacks=[backup, Say()], verbose=0)
    model.save_weights(os.path.join(folder, "final.safetensors"))
    tp.saving.save_arrays(os.path.join(folder, "history.safetensors"),
                          {"loss": np.asarray(history.history["loss"], "float64")})
    print("done", flush=True)


if __name__ == "__main__":
    main()
