"""Watch it learn: training curves, optimizers and learning rates

The lecture's last slide: plot the training and validation loss, then experiment with optimizers and learning
rates using `compile` and `fit`. Every figure on this page appears inline in the notebook version
(`docs/guide/notebooks/12_watch_it_learn.ipynb`); in a script, `plt.show()` at the end opens them, or pass
`save="name.png"` to any plot.
"""

# %%
# ## plot(history)
# R's `plot(history)` is `history.plot()`: loss and accuracy per epoch, training (solid) and validation
# (dashed), with the best validation epoch marked. The validation curve is what to watch: when it turns up
# while the training loss keeps falling, the model has started to memorize (overfit).
import tapeflow as tp

(x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
x_train, x_test = x_train.reshape(-1, 64) / 16, x_test.reshape(-1, 64) / 16
x_val, y_val = x_train[1000:], y_train[1000:]  # the last 347 training images check each epoch
x_train, y_train = x_train[:1000], y_train[:1000]


def make_model():
    return tp.Sequential([
        tp.Input(shape=(64,)),
        tp.layers.Dense(64, activation="relu"),
        tp.layers.Dense(10, activation="softmax"),
    ])


tp.random.set_seed(0)
model = make_model()
model.compile(optimizer=tp.optimizers.RMSprop(learning_rate=0.001), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=15, batch_size=32, validation_data=(x_val, y_val), verbose=0)
history.plot()
print(f"after 15 epochs: val_loss {history.history['val_loss'][-1]:.3f}, "
      f"val_accuracy {history.history['val_accuracy'][-1]:.3f}")

# %%
# ## The same model, five ways
# `tp.experiments.compare` builds the model once per setting, gives every run the same initial weights and
# the same batches, and trains it: the optimizer and its learning rate are the only difference. Here plain SGD
# at three rates, then Adam and RMSprop at their default rate (0.001).
sgd = tp.experiments.compare(make_model, (x_train, y_train), optimizers=["sgd"],
                             learning_rates=[3.0, 0.1, 0.001], loss="sparse_categorical_crossentropy",
                             epochs=15, validation_data=(x_val, y_val), plot=False)
adaptive = tp.experiments.compare(make_model, (x_train, y_train), optimizers=["adam", "rmsprop"],
                                  loss="sparse_categorical_crossentropy", epochs=15,
                                  validation_data=(x_val, y_val), plot=False)
runs = {**sgd.histories, **adaptive.histories}
tp.plot.compare(runs, title="the same model, 15 epochs from the same weights")
for name, run in runs.items():
    losses = run.history["loss"]
    print(f"{name:<14} loss: epoch 1 {losses[0]:.3f}, epoch 15 {losses[-1]:.3f}; "
          f"val_loss {run.history['val_loss'][-1]:.3f}")

# %%
# ## What the curves say
# - **Too high diverges** (SGD at 3.0): the first steps throw the weights so far that the loss jumps, and the
#   network never recovers. It ends at 2.30 = ln 10, the loss of guessing among 10 digits.
# - **Too low crawls** (SGD at 0.001): every step is right but tiny; after 15 epochs the loss has barely
#   moved.
# - **About right** (SGD at 0.1) learns fast. Adam and RMSprop adapt the step of each weight, so their
#   default rate works on most problems: a good first choice.
#
# Finding a good learning rate is key. `model.find_learning_rate` sweeps the rate from tiny to huge over a
# few hundred batches, from the current weights (which it then puts back exactly), and plots the loss against
# the rate: flat on the left (crawls), falling fast, then blowing up on the right (diverges). It suggests a
# tenth of the rate where the loss was lowest.
tp.random.set_seed(0)
model = make_model()
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
lr = model.find_learning_rate(x_train, y_train)
print(f"suggested learning rate: {lr:.2g}")
model.compile(optimizer=tp.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(x_train, y_train, epochs=15, batch_size=32, validation_data=(x_val, y_val), verbose=0)
print(f"SGD at {lr:.2g}: val_accuracy {history.history['val_accuracy'][-1]:.3f}")

# %%
# In a script, `plt.show()` opens every figure above in a window (with no display, save them instead). In a
# notebook they are already shown.
import matplotlib.pyplot as plt  # noqa: E402 - a page's cells import what they need where they need it

plt.show()
