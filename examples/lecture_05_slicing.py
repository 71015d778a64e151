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
