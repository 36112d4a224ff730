# %% [markdown]
# # Activations
# > Nonlinearities (ReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax) composed from Tensor ops.
#
# A stack of linear layers is still one linear map: `W2 @ (W1 @ x) = (W2 @ W1) @ x`. Activation
# functions, applied elementwise between layers, are what let a network bend its decision boundary.
# This chapter builds the six that cover almost all modern models.
#
# **The one rule:** every activation is written *only* with `Tensor` methods (`where`, `exp`, `tanh`,
# `max`, `sum`, ...), never by reaching into `.data`. This module does not know autograd exists, yet
# once `tinytorch.core.autograd` is imported every activation here is differentiable, because the
# Tensor methods it uses are.
#
# **Systems angle.** Activations are *memory-bound*: ReLU does one comparison per element but must
# read and write every element, so its time is set by memory bandwidth, not arithmetic. A chain like
# GELU's `0.5·x·(1 + tanh(c·(x + 0.044715·x³)))` written op by op allocates a temporary array per
# op and streams the data through memory about ten times; PyTorch fuses such chains into a single
# kernel (`torch.compile`, or hand-written CUDA for GELU) for exactly that reason. For training, every
# intermediate also stays alive for backward, so composite activations cost activation memory too.

# %%
#| default_exp core.activations

# %%
#| export
from __future__ import annotations

import math

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## ReLU
#
# `relu(x) = max(x, 0)`. Cheap, does not saturate for positive inputs (so gradients do not vanish in
# deep nets), and produces exact zeros (sparse activations). We write it as `where(x > 0, x, 0)`: the
# comparison is not differentiable, so the gradient is exactly `1` where `x > 0` and `0` elsewhere,
# including at `0`, the same convention as PyTorch.

# %%
#| export
class ReLU:
    """Rectified linear unit: max(x, 0)."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply elementwise."""
        ### BEGIN SOLUTION
        return Tensor.where(x > 0.0, x, 0.0)
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "ReLU()"

# %%
_x = Tensor([[-2.0, -0.5, 0.0, 0.5, 2.0]])
assert ReLU()(_x).data.tolist() == [[0.0, 0.0, 0.0, 0.5, 2.0]] and ReLU()(_x).dtype == np.float32

# %% [markdown]
# ## Sigmoid and Tanh
#
# `sigmoid(x) = 1 / (1 + e^-x)` squashes to `(0, 1)` (probabilities, gates in LSTMs);
# `tanh(x) = 2·sigmoid(2x) - 1` squashes to `(-1, 1)` and is zero-centred. Both saturate: for large
# `|x|` the derivative is nearly 0, the classic vanishing-gradient problem of deep sigmoid networks.
# The Tensor's `sigmoid()` is already numerically stable (it never evaluates `exp` of a large positive
# number), so `Sigmoid()(Tensor([-1000.0]))` is `0`, not an overflow warning.

# %%
#| export
class Sigmoid:
    """Logistic sigmoid 1 / (1 + exp(-x)), numerically stable."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply elementwise."""
        ### BEGIN SOLUTION
        return x.sigmoid()
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "Sigmoid()"


class Tanh:
    """Hyperbolic tangent."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply elementwise."""
        ### BEGIN SOLUTION
        return x.tanh()
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "Tanh()"

# %%
_s = Sigmoid()(Tensor([-1000.0, 0.0, 1000.0]))
assert _s.data.tolist() == [0.0, 0.5, 1.0]
assert np.allclose(Tanh()(_x).data, np.tanh(_x.data)) and np.allclose(2 * Sigmoid()(_x * 2).data - 1, np.tanh(_x.data))

# %% [markdown]
# ## GELU
#
# The Gaussian Error Linear Unit, `x·Φ(x)` (Φ = standard normal CDF), is the activation of BERT and
# GPT. It is a smooth ReLU: slightly negative for small negative inputs, smooth at 0. We use the
# tanh approximation that GPT-2 used (PyTorch: `approximate="tanh"`):
#
# `gelu(x) ≈ 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
#
# Eight Tensor ops, each allocating a temporary: a good example of why frameworks fuse kernels.

# %%
#| export
_GELU_C = math.sqrt(2.0 / math.pi)


class GELU:
    """Gaussian error linear unit, tanh approximation."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply elementwise."""
        ### BEGIN SOLUTION
        inner = (x + (x ** 3) * 0.044715) * _GELU_C
        return x * 0.5 * (inner.tanh() + 1.0)
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "GELU()"

# %%
_g = GELU()(_x)
assert _g.dtype == np.float32 and _g.data[0, 2] == 0.0
assert abs(_g.data[0, 4] - 1.9546) < 1e-3 and -0.2 < _g.data[0, 1] < 0  # slightly negative left of 0

# %% [markdown]
# ## Softmax and LogSoftmax
#
# `softmax(x)_i = e^{x_i} / Σ_j e^{x_j}` turns a row of scores (logits) into probabilities. Naively,
# `exp(1000)` overflows to `inf` and the result is `nan`. Softmax is unchanged by subtracting a
# constant from every score, so we subtract the row maximum first: the largest exponent is then
# `e^0 = 1` and nothing overflows. We `detach()` that maximum: it is a constant shift whose true
# gradient is exactly zero, so there is no reason to route gradients through it.
#
# `log_softmax(x) = (x - m) - log Σ exp(x - m)` (the log-sum-exp trick) is the stable way to get log
# probabilities: computing `log(softmax(x))` would produce `log(0) = -inf` for very negative scores.
# Cross-entropy losses are built on it. Both reduce over `axis` (default: the last one, the classes).
# Memory: softmax over attention scores of shape `(B, heads, T, T)` is quadratic in sequence length,
# the cost FlashAttention avoids by never materialising that matrix.

# %%
#| export
class Softmax:
    """Numerically stable softmax along `axis`."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        """Probabilities along `self.axis` (they sum to 1)."""
        ### BEGIN SOLUTION
        shifted = x - x.max(axis=self.axis, keepdims=True).detach()
        e = shifted.exp()
        return e / e.sum(axis=self.axis, keepdims=True)
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"Softmax(axis={self.axis})"


class LogSoftmax:
    """Numerically stable log of softmax along `axis` (log-sum-exp trick)."""

    def __init__(self, axis: int = -1) -> None:
        self.axis = axis

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities along `self.axis`."""
        ### BEGIN SOLUTION
        shifted = x - x.max(axis=self.axis, keepdims=True).detach()
        return shifted - shifted.exp().sum(axis=self.axis, keepdims=True).log()
        ### END SOLUTION

    def __call__(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return self.forward(x)
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"LogSoftmax(axis={self.axis})"

# %%
_logits = Tensor([[1.0, 2.0, 3.0], [1000.0, 1000.0, -1000.0]])
_p = Softmax()(_logits)
assert np.allclose(_p.data.sum(axis=-1), 1.0) and np.allclose(_p.data[1], [0.5, 0.5, 0.0])
_lp = LogSoftmax()(_logits)
assert np.isfinite(_lp.data).all() and np.allclose(np.exp(_lp.data[0]), _p.data[0], atol=1e-6)
assert np.allclose(Softmax(axis=0)(_logits).data.sum(axis=0), 1.0)
