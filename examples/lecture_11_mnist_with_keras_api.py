"""The same model with Sequential, compile and fit: MNIST

Everything from the previous pages in four calls: `tp.Sequential` stacks dense layers, `compile` picks the
loss, optimizer and metrics, `fit` runs the batched gradient-descent loop (with the tape inside), and
`evaluate` measures the result on test images the model never saw.

MNIST comes from `tp.datasets.mnist.load_data()`: downloaded once into `~/.cache/tapeflow` (SHA-256
verified), or read from `$TAPEFLOW_DATA_DIR/mnist` or a folder passed as `path=`.
"""

# %%
# ## The data
# 60,000 training and 10,000 test images of 28×28 pixels. Each image becomes a vector of 784 values in [0, 1],
# and labels stay integers 0..9 (for the *sparse* categorical cross-entropy).
import os

import numpy as np

import tapeflow as tp

(x_train, y_train), (x_test, y_test) = tp.datasets.mnist.load_data()
print(x_train.shape, x_train.dtype, y_train[:10])
x_train = tp.array_reshape(x_train, (60000, 28 * 28)).astype("float32") / 255
x_test = tp.array_reshape(x_test, (10000, 28 * 28)).astype("float32") / 255
print(x_train.shape, x_test.shape)

# %%
# ## The model
# Two dense layers: 784 → 512 (relu) → 10 (softmax), as in the lecture. 407,050 weights.
tp.random.set_seed(42)
model = tp.Sequential([
    tp.Input(shape=(784,)),
    tp.layers.Dense(512, activation="relu"),
    tp.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
print(model.count_params(), "parameters")

# %% [varies]
# ## Training
# Five epochs of batches of 128 images (`TAPEFLOW_GUIDE_QUICK=1`, which the test suite sets, trains on 10,000
# images for two epochs instead). `fit` returns the history of the loss and metrics per epoch.
quick = os.environ.get("TAPEFLOW_GUIDE_QUICK") == "1"
n, epochs = (10_000, 2) if quick else (60_000, 5)
history = model.fit(x_train[:n], y_train[:n], epochs=epochs, batch_size=128, verbose=0)
for epoch, (loss, acc) in enumerate(zip(history.history["loss"], history.history["accuracy"]), start=1):
    print(f"epoch {epoch}: loss {loss:.4f}, accuracy {acc:.4f}")

# %% [varies]
# ## Testing
# Accuracy on the 10,000 test images:
test_loss, test_acc = model.evaluate(x_test, y_test, verbose=0)
print(f"test accuracy: {test_acc:.4f}")
assert test_acc > (0.90 if quick else 0.97), test_acc

# %% [varies]
# ## Predictions
# `predict` gives the 10 class probabilities for each image; the most likely class is the prediction.
probs = model.predict(x_test[:5], verbose=0)
print(probs.shape, np.argmax(probs, axis=1), y_test[:5])
