"""Derivatives and gradients with the tape

A derivative says how much a function's output moves when its input moves a little. `tp.GradientTape`
records the operations of a computation and then computes exact derivatives by the chain rule: what
training needs to know which way to move every weight.
"""

# %%
# ## The derivative of x²
# The slope of `f(x) = x²` at `x = 3` is `f'(3) = 2·3 = 6`; a small step shows it numerically.
import numpy as np

import tapeflow as tp

f = lambda x: x ** 2
h = 1e-3
print((f(3.0 + h) - f(3.0 - h)) / (2 * h))

x = tp.Variable(3.0)
with tp.GradientTape() as tape:
    y = x ** 2
print(float(tape.gradient(y, x)))

# %%
# ## The lecture's example: y = 2x + 3
# In R, `x <- tf$Variable(0)` and `with(tf$GradientTape() %as% tape, { y <- 2 * x + 3 })`; then
# `tape$gradient(y, x)` is 2. In Python the `with` block is indented, and the variable starts at `0.0`: a
# gradient needs a float variable (R's `0` is already a double).
x = tp.Variable(0.0)
with tp.GradientTape() as tape:
    y = 2 * x + 3
grad_of_y_wrt_x = tape.gradient(y, x)
print(grad_of_y_wrt_x)

# %%
# ## Constants need `watch`
# A tape follows trainable Variables automatically; for a constant tensor, ask it to.
c = tp.constant(3.0)
with tp.GradientTape() as tape:
    tape.watch(c)
    y = tp.sin(c) * c
print(round(float(tape.gradient(y, c)), 4), round(float(np.cos(3.0) * 3.0 + np.sin(3.0)), 4))

# %%
# ## Gradients: one partial derivative per input
# For `loss(w) = sum((w - target)²)` the gradient is `2 (w - target)`: it points uphill, so training steps the
# other way.
w = tp.Variable([1.0, -2.0, 0.5])
target = tp.constant([0.0, 1.0, 0.5])
with tp.GradientTape() as tape:
    loss = tp.sum((w - target) ** 2)
print(tape.gradient(loss, w).numpy())

# %%
# ## Gradients of a dense layer's weights
# The tape returns a gradient for each weight, with the weight's shape.
tp.random.set_seed(1)
W = tp.Variable(tp.random.normal((4, 3)))
b = tp.Variable(tp.zeros((3,)))
xs = tp.constant(tp.datasets.iris.load_data().data[:8])
with tp.GradientTape() as tape:
    out = tp.relu(xs @ W + b)
    loss = tp.mean(out ** 2)
grad_W, grad_b = tape.gradient(loss, [W, b])
print(grad_W.shape, grad_b.shape)

# %%
# ## Second derivatives
# Tapes nest: the inner one differentiates, the outer one differentiates the derivative.
x = tp.Variable(2.0)
with tp.GradientTape() as outer:
    with tp.GradientTape() as inner:
        y = x ** 3
    dy = inner.gradient(y, x)
d2y = outer.gradient(dy, x)
print(float(dy), float(d2y), "= 3x², 6x at x = 2")
