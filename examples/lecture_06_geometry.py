"""The geometry of vectors

A vector is a point (or an arrow from the origin) in space. Addition moves arrows head to tail, scalar
multiplication stretches them, and the dot product measures how much two arrows point the same way:
`u · v = |u| |v| cos(angle)`.
"""

# %%
# ## Length and angle
import numpy as np

import tapeflow as tp

u = tp.constant([3.0, 4.0])
v = tp.constant([4.0, -3.0])
w = tp.constant([1.0, 2.0])
print("|u| =", float(tp.norm(u)), " u·v =", float(tp.dot(u, v)), "(perpendicular)")
cos = tp.dot(u, w) / (tp.norm(u) * tp.norm(w))
print(f"angle(u, w) = {np.degrees(np.arccos(float(cos))):.1f} degrees")

# %%
# ## Adding, stretching and projecting
# `u + w` is `w` drawn from the tip of `u`; `2 * w` doubles its length; the projection of `u` on `w` is the
# component of `u` in the direction of `w`, `(u·w / w·w) w`.
print((u + w).numpy(), (2 * w).numpy())
projection = tp.dot(u, w) / tp.dot(w, w) * w
print(np.round(projection.numpy(), 3), "residual ⟂ w:", abs(float(tp.dot(u - projection, w))) < 1e-6)

# %%
# ## A dense layer moves points
# `relu(W x + b)` is a linear map (rotation, stretch, shear), a shift and a fold at zero. Applied to the four
# corners of the unit square:
square = tp.constant([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
W = tp.constant([[2.0, -1.0], [1.0, 1.0]])
b = tp.constant([-1.0, 0.0])
print((square @ W).numpy())
print(tp.relu(square @ W + b).numpy())

# %%
# ## Similar samples are close
# The distance between digit images shows that two images of the same digit are usually closer than images of
# different digits: the geometry a classifier can exploit.
(x_train, y_train), _ = tp.datasets.digits.load_data()
flat = x_train.reshape(len(x_train), -1).astype("float32") / 16
zeros, ones = flat[y_train == 0], flat[y_train == 1]
same = float(tp.mean(tp.norm(zeros[:50] - zeros[50:100], axis=1)))
different = float(tp.mean(tp.norm(zeros[:50] - ones[:50], axis=1)))
print(f"mean distance 0↔0: {same:.2f}   0↔1: {different:.2f}")

# %%
# With matplotlib installed, `tp.plot.vectors(u, w)` draws the arrows, their sum and the projection.
fig = tp.plot.vectors(u, w, labels=["u", "w"])
print(type(fig).__name__)
