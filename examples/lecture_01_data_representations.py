"""Data representations: tensors from scalars to 5-D video

Deep learning stores all data in tensors: n-dimensional arrays with a *shape* (the length of every axis), a
*rank* (the number of axes, `ndim`) and a *dtype*. This page walks from a single number to a batch of videos,
with the shapes the lecture draws, and shows why the first axis is almost always the batch (samples) axis.
"""

# %%
# ## Scalars (rank 0) and vectors (rank 1)
# A scalar tensor holds one number and has the empty shape `()`. A vector is a 1-D array.
import numpy as np

import tapeflow as tp

x = tp.constant(12.0)
print(x.ndim, x.shape, x.dtype)
v = tp.constant([12.0, 3.0, 6.0, 14.0, 7.0])
print(v.ndim, v.shape)

# %%
# A vector with 5 entries is a *5-dimensional vector* but a *rank-1 tensor*: "dimension" can mean either the
# length of an axis or the number of axes, so we say **rank** (or `ndim`) for the number of axes.
#
# ## Matrices (rank 2): samples × features
# A table of data is a matrix: one row per sample, one column per feature. The bundled `mtcars` data set
# (32 cars, 11 measurements each) is exactly that:
cars = tp.datasets.mtcars.load_data()
X = tp.constant(cars.data)
print(X.ndim, X.shape)
print(cars.feature_names)
print(cars.row_names[:3])

# %%
# ## Rank 3: time series and sequences
# Samples × time steps × features. Windows of 12 months over the airline passengers series:
air = tp.datasets.airline_passengers.load_data()
windows = tp.utils.timeseries_dataset_from_array(air.data, None, sequence_length=12, batch_size=32)
first_batch = next(iter(windows))
print(first_batch.shape, "= (samples, timesteps, features)")

# %%
# ## Rank 3 and 4: images
# A grey-scale image is height × width; a batch of them is samples × height × width, and with a colour (or
# channel) axis it becomes rank 4: samples × height × width × channels ("channels last", TensorFlow's
# convention).
(x_train, y_train), (x_test, y_test) = tp.datasets.digits.load_data()
print(x_train.shape, x_train.dtype, "labels:", y_train[:10])
images = tp.constant(x_train[..., np.newaxis] / 16.0, dtype="float32")
print(images.shape, "= (samples, height, width, channels)")

# %%
# ## Rank 5: video
# A video is a sequence of frames: samples × frames × height × width × channels. Four 2-second clips (60
# frames each) at 144 × 256 pixels in colour:
video = tp.zeros((4, 60, 144, 256, 3), dtype="uint8")
print(video.ndim, video.shape, f"{video.size * video.dtype.itemsize / 1e6:.0f} MB")

# %%
# ## Batches
# Models never see the whole data set at once: training walks through it in *batches* along the first axis.
# Slicing gives one batch by hand; `tp.data.Dataset` does it for a whole epoch.
batch = images[:128]
print(batch.shape)
ds = tp.data.Dataset.from_tensor_slices((x_train, y_train)).batch(128)
print(len(ds), "batches per epoch;", [xb.shape[0] for xb, yb in ds][-3:])
