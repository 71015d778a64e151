"""Gradient descent by hand, and the learning rate

Training repeats one step: compute the loss on a batch, its gradient with respect to every weight, and move
each weight a little against its gradient, `w ← w - learning_rate · gradient`. The learning rate decides
everything: too low and the loss barely moves, too high and it blows up.
"""

# %%
# ## A linear model for mtcars
# Predict fuel consumption (mpg) from weight, both standardised: `mpg ≈ w · weight + b`.
import numpy as np

import tapeflow as tp

cars = tp.datasets.mtcars.load_data()
weight = cars.data[:, cars.feature_names.index("wt")]
mpg = cars.data[:, cars.feature_names.index("mpg")]
x = tp.constant((weight - weight.mean()) / weight.std())
y = tp.constant((mpg - mpg.mean()) / mpg.std())
print(x.shape, y.shape, f"correlation {np.corrcoef(weight, mpg)[0, 1]:.3f}")

# %%
# ## One training step
def train(learning_rate, steps=30, batch_size=None, seed=0):
    """Gradient descent on the mean squared error; returns the loss after every step."""
    w, b = tp.Variable(0.0), tp.Variable(0.0)
    rng = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        idx = rng.choice(len(y), batch_size, replace=False) if batch_size else np.arange(len(y))
        xb, yb = tp.gather(x, idx), tp.gather(y, idx)
        with tp.GradientTape() as tape:
            loss = tp.mean((w * xb + b - yb) ** 2)
        grad_w, grad_b = tape.gradient(loss, [w, b])
        w.assign_sub(learning_rate * grad_w)
        b.assign_sub(learning_rate * grad_b)
        losses.append(float(tp.mean((w * x + b - y) ** 2)))
    return losses, float(w), float(b)


losses, w, b = train(learning_rate=0.1)
print(f"after 30 steps: loss {losses[-1]:.4f}, w = {w:.3f}, b = {round(b, 3) + 0.0:.3f}")
print(f"least squares:  loss {1 - np.corrcoef(weight, mpg)[0, 1] ** 2:.4f}, "
      f"w = {np.corrcoef(weight, mpg)[0, 1]:.3f}, b = 0.000")

# %%
# ## Too low, about right, too high
# For this loss the curvature is 2, so any learning rate above 2 / 2 = 1 makes each step overshoot further
# than the last: the loss grows without bound.
for lr in (0.001, 0.01, 0.1, 0.5, 0.99, 1.05):
    losses, w, b = train(learning_rate=lr)
    trend = " ".join(f"{v:9.4g}" for v in losses[::6])
    print(f"lr={lr:<6} loss every 6 steps: {trend}")

# %%
# ## Stochastic: mini-batches
# With batches of 8 cars the gradient is noisy, but each step is cheaper and it still finds the minimum.
losses, w, b = train(learning_rate=0.1, steps=100, batch_size=8)
print(f"mini-batch SGD after 100 steps: loss {losses[-1]:.4f}, w = {w:.3f}")

# %%
# ## The same with an optimizer
# `tp.optimizers.SGD(learning_rate)` does the update line for every variable; `apply_gradients` takes
# `(gradient, variable)` pairs.
w, b = tp.Variable(0.0), tp.Variable(0.0)
optimizer = tp.optimizers.SGD(learning_rate=0.1)
for _ in range(30):
    with tp.GradientTape() as tape:
        loss = tp.mean((w * x + b - y) ** 2)
    optimizer.apply_gradients(zip(tape.gradient(loss, [w, b]), [w, b]))
print(f"SGD optimizer: loss {float(loss):.4f}, w = {float(w):.3f}")
