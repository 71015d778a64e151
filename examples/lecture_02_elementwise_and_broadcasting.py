"""Element-wise operations and broadcasting

Most tensor operations work element by element: `relu`, `+`, `*` apply to each entry independently. When the
shapes differ, *broadcasting* stretches the smaller tensor along the missing or size-1 axes, without copying.
"""

# %%
# ## Element-wise operations
# `relu(x) = max(x, 0)` and addition, written as a loop and as one tensor operation:
import numpy as np

import tapeflow as tp

x = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], dtype="float32")
y = np.ones((2, 3), dtype="float32")


def naive_relu(x):
    out = x.copy()
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[i, j] = max(x[i, j], 0.0)
    return out


print(naive_relu(x))
print(tp.relu(x).numpy())
print((tp.constant(x) + y).numpy())

# %%
# Element-wise means "entry by entry", also for multiplication: `*` is **not** the matrix product.
a = tp.constant([[1, 3], [2, 4]])
b = tp.constant([[5, 7], [6, 8]])
print((a * b).numpy())
print(tp.multiply(a, b).numpy())

# %%
# ## Broadcasting
# Adding a vector of shape `(3,)` to a matrix of shape `(2, 3)`: the vector is repeated along a new first
# axis. The rule: align the shapes at the right; each pair of sizes must be equal, or one of them 1 (or
# missing), and the result takes the larger size.
bias = tp.constant([10.0, 20.0, 30.0])
print((tp.constant(x) + bias).numpy())

# %%
# A column `(2, 1)` and a row `(1, 3)` broadcast to `(2, 3)`: an outer "sum table".
col = tp.constant([[0.0], [100.0]])
row = tp.constant([[1.0, 2.0, 3.0]])
print((col + row).shape)
print((col + row).numpy())

# %%
# Shapes that do not fit give an error that names the operation and both shapes:
try:
    tp.add(tp.ones((2, 3)), tp.ones((2,)))
except ValueError as error:
    print(type(error).__name__, ":", error)

# %%
# Broadcasting is how a batch of images is normalised with one mean per channel: `(samples, h, w, c)` minus
# `(c,)`.
images = tp.random.uniform((16, 8, 8, 3), seed=0)
mean = tp.mean(images, axis=(0, 1, 2))
centred = images - mean
print(mean.shape, centred.shape)
print("channel means after centring are ~0:", bool(tp.max(tp.abs(tp.mean(centred, axis=(0, 1, 2)))) < 1e-6))
