"""Slicing tensors

Selecting parts of a tensor along its axes: single samples, ranges of samples (batches), crops of images,
and the last time step of sequences. Python indexes from 0 and a slice `a:b` stops *before* `b`.
"""

# %%
# ## Samples and batches
import tapeflow as tp

(x_train, y_train), _ = tp.datasets.digits.load_data()
images = tp.constant(x_train)
print(images[0].shape, images[10:100].shape, images[:128].shape)

# %%
# The n-th batch of size 128:
n = 3
batch = images[128 * n: 128 * (n + 1)]
print(batch.shape)

# %%
# ## Crops
# Every image's lower-right 4×4 corner, and the centre 4×4 patch (negative indices count from the end):
print(images[:, 4:, 4:].shape)
print(images[:, 2:-2, 2:-2].shape)
print(images[0, 2:-2, 2:-2].numpy())

# %%
# ## R and Python count differently
# R counts from 1 and a negative index *drops* elements; Python counts from 0 and a negative index counts
# *from the end*. An R range `2:4` includes 4; the Python slice `1:4` stops before index 4.
#
# | R (`x <- c(10, 20, 30, 40, 50)`) | Python (`x = tp.constant([10, 20, 30, 40, 50])`) | result |
# | --- | --- | --- |
# | `x[1]` | `x[0]` | 10, the first |
# | `x[-1]` | `x[1:]` | 20 30 40 50: R drops the first |
# | `x[length(x)]` | `x[-1]` | 50: Python's -1 is the last |
# | `x[2:4]` | `x[1:4]` | 20 30 40 |
# | `x[-(1:2)]` | `x[2:]` | 30 40 50 |
x = tp.constant([10, 20, 30, 40, 50])
print(x[0].numpy(), x[1:].numpy(), x[-1].numpy(), x[1:4].numpy(), x[2:].numpy())

# %%
# ## `...` and `tp.all_dims()`
# `...` stands for "all the remaining axes"; R users know it as `all_dims()`. The last time step of a batch of
# sequences `(samples, timesteps, features)`:
seqs = tp.reshape(tp.range(24), (2, 4, 3))
print(seqs[:, -1, :].numpy())
print(seqs[tp.all_dims(), 0].numpy())
print(seqs[..., 0].numpy())

# %%
# ## Boolean masks and index lists
# Pick the images of the digit 3, or a list of samples:
threes = x_train[y_train == 3]
print(threes.shape, tp.gather(images, [0, 5, 7]).shape)

# %%
# Tensors are immutable: assigning into a slice is an error that says what to do instead.
try:
    images[0, 0, 0] = 1
except TypeError as error:
    print(error)
