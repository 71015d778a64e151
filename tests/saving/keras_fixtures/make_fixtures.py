"""Writes tests/saving/keras_fixtures: small models saved by Keras 3 (JAX backend) and their predictions.

Run with the real keras package (from the repository root):
    python tests/saving/keras_fixtures/make_fixtures.py tests/saving/keras_fixtures
(the committed files were written by keras 3.15.1 with jax 0.10.2)."""

import os
import sys

import numpy as np


def main(out):
    os.environ["KERAS_BACKEND"] = "jax"
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)

    def save(model, name, x):
        model.save(os.path.join(out, f"{name}.keras"))
        xs = x if isinstance(x, list) else [x]
        arrays = {f"x{i}": v for i, v in enumerate(xs)}
        np.savez(os.path.join(out, f"{name}.npz"), **arrays, y=model.predict(x, verbose=0))

    mlp = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", kernel_regularizer="l2"),
                            L.BatchNormalization(), L.Dropout(0.2), L.Dense(3, activation="softmax")],
                           name="mlp")
    mlp.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = rng.standard_normal((16, 6)).astype("float32")
    mlp.fit(x, rng.integers(0, 3, 16), epochs=2, verbose=0)
    save(mlp, "mlp", x[:5])

    inp = keras.Input((10, 4), name="seq_in")
    h = L.Conv1D(5, 3, padding="same", activation="relu")(inp)
    h = L.MaxPooling1D(2)(h)
    a = L.LSTM(6, return_sequences=True)(h)
    b = L.GRU(4)(a)
    c = L.GlobalAveragePooling1D()(h)
    save(keras.Model(inp, L.Dense(2)(L.Concatenate()([b, c])), name="sequence"), "sequence",
         rng.standard_normal((3, 10, 4)).astype("float32"))

    img, tok = keras.Input((8, 8, 3), name="image"), keras.Input((5,), dtype="int32", name="tokens")
    g = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(img)
    g = L.LayerNormalization()(g)
    g = L.DepthwiseConv2D(3, padding="same")(g)
    g = L.AveragePooling2D(2)(g)
    e = L.Embedding(20, 4)(tok)
    e = L.SimpleRNN(3)(e)
    joined = L.Add()([L.Dense(3)(L.Flatten()(g)), L.Dense(3)(e)])
    save(keras.Model([img, tok], joined, name="two_inputs"), "two_inputs",
         [rng.standard_normal((4, 8, 8, 3)).astype("float32"), rng.integers(0, 20, (4, 5)).astype("int32")])

    lam = keras.Sequential([keras.Input((3,)), L.Lambda(lambda t: t * 2.0), L.Dense(2)], name="with_lambda")
    lam.save(os.path.join(out, "with_lambda.keras"))
    print(keras.__version__)


if __name__ == "__main__":
    main(sys.argv[1])
