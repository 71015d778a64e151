"""The dot product and matrix multiplication

The tensor product behind every dense layer: `tp.matmul` (or the `@` operator), `tp.dot` for vectors. Its
shape rule: the *inner* dimensions must agree, `(a, b) @ (b, c) -> (a, c)`.
"""

# %%
# ## Two vectors
# The dot product multiplies entry by entry and sums: a scalar.
import numpy as np

import tapeflow as tp

x = tp.constant([1.0, 2.0, 3.0])
y = tp.constant([4.0, 5.0, 6.0])
print(float(tp.dot(x, y)), float(tp.sum(x * y)))

# %%
# ## Written as loops
# A naive matrix-vector and matrix-matrix product, to see what `matmul` computes:
def naive_matrix_vector_dot(m, v):
    out = np.zeros(m.shape[0])
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            out[i] += m[i, j] * v[j]
    return out


def naive_matrix_dot(a, b):
    assert a.shape[1] == b.shape[0], "inner dimensions must agree"
    out = np.zeros((a.shape[0], b.shape[1]))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            out[i, j] = np.dot(a[i, :], b[:, j])  # row i of a with column j of b
    return out


a = np.arange(1.0, 7.0).reshape(2, 3)
b = np.arange(1.0, 13.0).reshape(3, 4)
print(naive_matrix_vector_dot(a, [1.0, 0.0, -1.0]))
print(naive_matrix_dot(a, b))
print((tp.constant(a) @ tp.constant(b)).numpy())

# %%
# ## Shapes
# `(2, 3) @ (3, 4)` is `(2, 4)`. The order matters: `(3, 4) @ (2, 3)` does not fit, and the error says
# which dimensions differ.
print(tp.matmul(a, b).shape)
try:
    tp.matmul(b, a)
except ValueError as error:
    print(error)

# %%
# ## The lecture's `dot(W, x)` and a layer's `matmul(x, W)`
# The lecture writes a dense layer as `relu(dot(W, x) + b)`: `W` is `(units, inputs)` and `x` one input
# vector. Keras layers (and tapeflow's) take a *batch* of inputs as rows, `(samples, inputs)`, and keep the
# kernel the other way round, `(inputs, units)`: `relu(matmul(x, kernel) + b)`. Same numbers, transposed.
W = tp.random.normal((3, 4), seed=2)           # the lecture's W: 3 units, 4 inputs
v = tp.constant([1.0, 2.0, 3.0, 4.0])          # one input of 4 features
print(tp.dot(W, v).numpy().round(3))
x_batch = tp.reshape(v, (1, 4))                # as layers see it: a batch of 1 sample, (1, 4)
try:
    tp.matmul(x_batch, W)                      # the lecture's W in the layer's order does not fit
except ValueError as error:
    print(error)
kernel = tp.transpose(W)                       # a Dense layer's kernel: (inputs, units) = (4, 3)
print(tp.matmul(x_batch, kernel).numpy().round(3))

# %%
# ## Batched products
# With more than two axes, `matmul` multiplies the last two and broadcasts the rest: a batch of 8 matrices
# times one weight matrix.
batch = tp.random.normal((8, 2, 3), seed=0)
weights = tp.random.normal((3, 5), seed=1)
print(tp.matmul(batch, weights).shape)

# %%
# `tp.einsum` writes any of these products by naming the axes:
print(np.allclose(tp.einsum("bij,jk->bik", batch, weights).numpy(), tp.matmul(batch, weights).numpy()))
