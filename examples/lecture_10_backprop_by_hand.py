"""Backpropagation by hand, checked against the tape

Backpropagation is the chain rule applied from the loss back to every weight, one layer at a time. Here it is
written out for a two-layer network on the iris data, then compared with what `tp.GradientTape` computes.
"""

# %%
# ## The network
# `z1 = x W1 + b1`, `h = relu(z1)`, `logits = h W2 + b2`, `p = softmax(logits)`, and the loss is the mean
# cross-entropy `-mean(log p[label])`.
import numpy as np

import tapeflow as tp

iris = tp.datasets.iris.load_data()
x = (iris.data - iris.data.mean(axis=0)) / iris.data.std(axis=0)
labels = iris.target
onehot = tp.utils.to_categorical(labels, 3)
n = len(x)

tp.random.set_seed(0)
W1 = tp.Variable(tp.random.normal((4, 16), stddev=0.5))
b1 = tp.Variable(tp.zeros((16,)))
W2 = tp.Variable(tp.random.normal((16, 3), stddev=0.5))
b2 = tp.Variable(tp.zeros((3,)))
params = [W1, b1, W2, b2]


def forward(x):
    z1 = tp.matmul(x, W1) + b1
    h = tp.relu(z1)
    logits = tp.matmul(h, W2) + b2
    return z1, h, tp.softmax(logits, axis=-1)


def cross_entropy(p):
    return -tp.mean(tp.sum(onehot * tp.log(p), axis=1))


print("initial loss:", round(float(cross_entropy(forward(x)[2])), 4))

# %%
# ## The backward pass, layer by layer
# Softmax followed by cross-entropy has the famously simple gradient `(p - onehot) / n` with respect to the
# logits. From there each step multiplies by a local derivative: a matmul passes the gradient back through
# the transposed weights, relu lets it through only where `z1 > 0`, and a bias collects the sum over the
# batch.
def backward(x):
    z1, h, p = forward(x)
    d_logits = (p - onehot) / n                    # dL/dlogits
    d_W2 = tp.matmul(tp.transpose(h), d_logits)    # dL/dW2 = hᵀ · dL/dlogits
    d_b2 = tp.sum(d_logits, axis=0)
    d_h = tp.matmul(d_logits, tp.transpose(W2))    # back through the second matmul
    d_z1 = d_h * tp.cast(z1 > 0, "float32")        # back through relu
    d_W1 = tp.matmul(tp.transpose(tp.constant(x)), d_z1)
    d_b1 = tp.sum(d_z1, axis=0)
    return [d_W1, d_b1, d_W2, d_b2]


by_hand = backward(x)
print([g.shape for g in by_hand])

# %%
# ## Checked against the tape
with tp.GradientTape() as tape:
    loss = cross_entropy(forward(x)[2])
by_tape = tape.gradient(loss, params)
for name, a, b in zip(["W1", "b1", "W2", "b2"], by_hand, by_tape):
    largest = float(tp.max(tp.abs(a - b)))
    print(f"{name}: hand and tape agree to float32 rounding (largest difference < 1e-6): {largest < 1e-6}")

# %%
# ## Training with the hand-written gradients
# Plain gradient descent with our own backward pass learns the three species.
for step in range(301):
    for p, g in zip(params, backward(x)):
        p.assign_sub(0.5 * g)
    if step % 100 == 0:
        probs = forward(x)[2]
        accuracy = float(np.mean(np.argmax(probs.numpy(), axis=1) == labels))
        print(f"step {step:3d}: loss {float(cross_entropy(probs)):.4f}, accuracy {accuracy:.3f}")
