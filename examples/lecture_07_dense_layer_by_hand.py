"""A dense layer written by hand

A dense (fully connected) layer computes `output = activation(dot(input, W) + b)`: one weight per
(input feature, unit) pair plus one bias per unit. Here it is built from tensors, then compared with
`tp.layers.Dense`.
"""

# %%
# ## Weights and the forward pass
# A layer with 3 units on inputs with 4 features: `W` is `(4, 3)`, `b` is `(3,)`, a batch `(samples, 4)`
# gives `(samples, 3)`.
import numpy as np

import tapeflow as tp

tp.random.set_seed(0)


class NaiveDense:
    def __init__(self, input_size, units, activation):
        limit = np.sqrt(6.0 / (input_size + units))  # Glorot uniform, Keras's default initializer
        self.W = tp.Variable(tp.random.uniform((input_size, units), -limit, limit))
        self.b = tp.Variable(tp.zeros((units,)))
        self.activation = activation

    def __call__(self, inputs):
        return self.activation(tp.matmul(inputs, self.W) + self.b)

    @property
    def weights(self):
        return [self.W, self.b]


layer = NaiveDense(4, 3, tp.relu)
iris = tp.datasets.iris.load_data()
out = layer(iris.data[:5])
print(out.shape, [w.shape for w in layer.weights])
print(np.round(out.numpy(), 3))

# %%
# ## A stack of layers is a model
# Two layers map the 4 iris measurements to 3 class probabilities; `softmax` makes each row sum to 1.
class NaiveSequential:
    def __init__(self, layers):
        self.layers = layers

    def __call__(self, inputs):
        x = inputs
        for layer in self.layers:
            x = layer(x)
        return x

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]


model = NaiveSequential([NaiveDense(4, 16, tp.relu), NaiveDense(16, 3, tp.softmax)])
probs = model(iris.data[:3])
print(np.round(probs.numpy(), 3), np.round(tp.sum(probs, axis=1).numpy(), 3))
print(sum(int(np.prod(w.shape)) for w in model.weights), "weights")

# %%
# ## The same with `tp.layers.Dense`
# Given the same weights, the library layer computes the same numbers.
dense = tp.layers.Dense(3, activation="relu")
dense(np.zeros((1, 4), "float32"))  # the first call builds the weights for 4 input features
dense.set_weights([layer.W.numpy(), layer.b.numpy()])
print(np.allclose(dense(iris.data[:5]).numpy(), out.numpy()))
print(dense.kernel.shape, dense.bias.shape, dense.count_params(), "parameters = 4 * 3 + 3")
