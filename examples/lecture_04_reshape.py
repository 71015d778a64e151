"""Reshaping in "C" and "F" order

Reshaping rearranges the same entries into a new shape. *Which* entry goes where depends on the order in which
they are read and written: "C" order (row-major, NumPy's, TensorFlow's and Keras's) changes the last index
fastest; "F" order (column-major, R's and Fortran's) changes the first index fastest.
"""

# %%
# ## Row-major ("C") and column-major ("F")
import numpy as np

import tapeflow as tp

x = np.arange(1, 9)
print(tp.reshape(x, (2, 4)).numpy())
print(tp.reshape(x, (2, 4), order="F").numpy())

# %%
# ## R's `matrix()` and `array_reshape()`
# R fills matrices column by column: R's `matrix(1:8, nrow = 2)` is `tp.array_reshape(np.arange(1, 9), (2, 4),
# order="F")`. `tp.array_reshape` has the meaning of reticulate's `array_reshape()`: its default is "C",
# like Keras, because the data go into a model that reads rows.
r_matrix = tp.array_reshape(np.arange(1, 9), (2, 4), order="F")
print(r_matrix)
print(tp.array_reshape(r_matrix, (4, 2)))
print(tp.array_reshape(r_matrix, (4, 2), order="F"))

# %%
# ## Flattening images for a dense network
# 8×8 digit images become vectors of 64 pixels; "C" order keeps each image row together.
(x_train, y_train), _ = tp.datasets.digits.load_data()
flat = tp.array_reshape(x_train, (len(x_train), 64))
print(x_train.shape, "->", flat.shape)
print(np.array_equal(flat[0, :8], x_train[0, 0]), "(the first 8 pixels are the first image row)")

# %%
# ## Transposing is not reshaping
# A transpose swaps axes (rows become columns); a reshape keeps the reading order.
m = np.arange(6).reshape(2, 3)
print(tp.transpose(m).numpy())
print(tp.reshape(m, (3, 2)).numpy())

# %%
# `-1` lets one size be inferred, and a size mismatch is a clear error:
print(tp.reshape(np.arange(12), (3, -1)).shape)
try:
    tp.reshape(np.arange(12), (5, -1))
except ValueError as error:
    print(error)
