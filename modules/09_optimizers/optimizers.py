# %% [markdown]
# # Optimizers
# > SGD with momentum, Adam and AdamW, and learning-rate schedules: turning gradients into better weights.
#
# Autograd tells us, for every parameter `p`, the gradient `g = dL/dp`. An optimizer
# decides what to *do* with it. The simplest rule, gradient descent, steps against the
# gradient: `p <- p - lr * g`. Everything else in this chapter is a refinement of that
# line that real training depends on:
#
# * **momentum** smooths the noisy mini-batch gradients into a running velocity;
# * **Adam** gives every parameter its own step size from running averages of `g` and `g**2`;
# * **AdamW** fixes how Adam interacts with weight decay;
# * **schedules** change `lr` over time (decay, cosine annealing, warm-up).
#
# The update formulas follow PyTorch's `torch.optim` exactly, so the numbers you get here
# are the numbers PyTorch would give.
#
# **The systems angle: optimizer state is memory.** Plain SGD keeps nothing between steps.
# Momentum keeps one buffer the size of the parameters. Adam keeps *two* (first and second
# moments): a model with `P` float32 parameters needs `4P` bytes of weights, `4P` of
# gradients and `8P` of Adam state, i.e. training with Adam takes about **4x the memory of
# the weights** before counting any activation. For a 7-billion-parameter model that is
# 28 GB of weights plus 56 GB of Adam state, which is why large-model training shards the
# optimizer state across GPUs (ZeRO) or stores it in 8 bits. `Optimizer.state_nbytes()`
# lets you measure it.
#
# Updates modify `p.data` **in place**: the model and the optimizer share the same
# parameter objects, so there is nothing to copy back, and the update itself is plain numpy
# outside the autograd graph (PyTorch runs `step()` under `torch.no_grad()` for the same
# reason).

# %%
#| default_exp core.optimizers

# %%
#| export
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from tinytorch.core.autograd import enable_autograd
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## The Optimizer base class
#
# An optimizer holds the list of parameters it updates and a learning rate `lr` (a plain
# attribute, so schedules can change it). `zero_grad()` forgets the gradients: autograd
# *accumulates* into `.grad` across backward passes, so forgetting to clear them between
# steps silently sums the gradients of several batches.
#
# Pruned parameters (see the compression chapter) carry a `_prune_mask`; after each update
# the optimizer multiplies it back in so that pruned weights stay exactly zero while the
# remaining ones are fine-tuned.

# %%
#| export
def _grad_array(p: Tensor) -> np.ndarray | None:
    """The gradient of `p` as an ndarray (None when there is no gradient)."""
    ### BEGIN SOLUTION
    g = p.grad
    if g is None:
        return None
    return np.asarray(g.data if isinstance(g, Tensor) else g)
    ### END SOLUTION


def _check_hparam(name: str, value: float, low: float = 0.0, high: float | None = None) -> None:
    """Raise a ValueError naming `name` unless `low <= value` (and `value < high` if given)."""
    ### BEGIN SOLUTION
    if not math.isfinite(value) or value < low or (high is not None and value >= high):
        bound = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"invalid {name}: {value} (must be {bound})")
    ### END SOLUTION


class Optimizer:
    """Base class: holds `params` and `lr`; subclasses implement `step()`."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        enable_autograd()  # training needs differentiable Tensor ops; idempotent
        _check_hparam("learning rate lr", lr)
        unique: dict[int, Tensor] = {}
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer params must be Tensors, got {type(p).__name__}")
            unique.setdefault(id(p), p)
        if not unique:
            raise ValueError("optimizer got an empty parameter list")
        self.params: list[Tensor] = list(unique.values())
        self.lr = float(lr)
        self.step_count = 0

    def zero_grad(self) -> None:
        """Set every parameter's `.grad` to None."""
        ### BEGIN SOLUTION
        for p in self.params:
            p.grad = None
        ### END SOLUTION

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        ### BEGIN SOLUTION
        self.step_count += 1
        for i, p in enumerate(self.params):
            g = _grad_array(p)
            if g is None:
                continue
            if g.shape != p.data.shape:
                raise ValueError(f"gradient shape {g.shape} does not match parameter shape {p.data.shape}")
            new = self._update(i, p.data, g.astype(p.data.dtype, copy=False))
            mask = getattr(p, "_prune_mask", None)
            p.data[...] = new if mask is None else new * mask
        ### END SOLUTION

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Return the new value of parameter `i` (weights `w`, gradient `g`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _update()")

    def _state_arrays(self) -> list[np.ndarray]:
        """Arrays kept between steps (momentum buffers, moments)."""
        return []

    def state_nbytes(self) -> int:
        """Bytes of optimizer state kept between steps (0 for plain SGD, 2x params for Adam)."""
        ### BEGIN SOLUTION
        return int(sum(a.nbytes for a in self._state_arrays()))
        ### END SOLUTION

# %% [markdown]
# ## SGD with momentum and weight decay
#
# PyTorch's SGD, with `mu` the momentum and `wd` the weight decay:
#
# ```
# g <- g + wd * p          # L2 regularisation folded into the gradient
# v <- mu * v + g          # velocity (v starts at g on the first step)
# p <- p - lr * v
# ```
#
# Momentum is a low-pass filter: directions where the gradient keeps the same sign build
# up speed (up to `1 / (1 - mu)` times, i.e. 10x for `mu = 0.9`), oscillating directions
# cancel out. The buffer costs one extra array per parameter.

# %%
#| export
class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch semantics)."""

    def __init__(self, params: Iterable[Tensor], lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        _check_hparam("momentum", momentum, 0.0, 1.0)
        _check_hparam("weight_decay", weight_decay)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self._velocity: dict[int, np.ndarray] = {}

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        if self.weight_decay:
            g = g + self.weight_decay * w
        if self.momentum:
            v = self._velocity.get(i)
            v = g.copy() if v is None else self.momentum * v + g
            self._velocity[i] = v
            g = v
        return w - self.lr * g
        ### END SOLUTION

    def _state_arrays(self) -> list[np.ndarray]:
        ### BEGIN SOLUTION
        return list(self._velocity.values())
        ### END SOLUTION

# %%
_w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
_opt = SGD([_w], lr=0.1, momentum=0.9)
for _ in range(2):
    _w.grad = Tensor(np.array([1.0, 1.0]))
    _opt.step()
# step 1: v = 1, w = 1 - 0.1; step 2: v = 0.9 + 1 = 1.9, w = 0.9 - 0.19
assert np.allclose(_w.data, [0.71, -2.29]) and _opt.state_nbytes() == _w.data.nbytes

# %% [markdown]
# ## Adam and AdamW
#
# Adam keeps exponential moving averages of the gradient (`m`, the "direction") and of its
# square (`v`, the "scale"), and divides one by the square root of the other, so each
# parameter moves by roughly `lr` per step whatever the size of its gradient:
#
# ```
# m <- b1 * m + (1 - b1) * g
# v <- b2 * v + (1 - b2) * g**2
# m_hat = m / (1 - b1**t)        # bias correction: m and v start at 0,
# v_hat = v / (1 - b2**t)        # so early averages are too small
# p <- p - lr * m_hat / (sqrt(v_hat) + eps)
# ```
#
# Without bias correction the first step would be `(1 - b1) / sqrt(1 - b2) ~ 3` times too
# small with the defaults, and very different from later steps.
#
# **Weight decay.** `Adam(weight_decay=wd)` adds `wd * p` to the gradient (L2 regularisation,
# as `torch.optim.Adam` does); the decay then gets divided by `sqrt(v_hat)` like everything
# else, so weights with large gradients are barely regularised. **AdamW** (Loshchilov and
# Hutter, 2019) *decouples* it: `p <- p - lr * wd * p` is applied directly, then the plain
# Adam step. That is the default optimizer for transformers today.
#
# Memory: `m` and `v` are two arrays the size of every parameter, `state_nbytes()` is
# exactly twice the parameter bytes.

# %%
#| export
class Adam(Optimizer):
    """Adam with bias correction; `weight_decay` is L2 added to the gradient (as torch.optim.Adam)."""

    _decoupled = False

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        _check_hparam("beta1", betas[0], 0.0, 1.0)
        _check_hparam("beta2", betas[1], 0.0, 1.0)
        _check_hparam("eps", eps)
        _check_hparam("weight_decay", weight_decay)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._m: dict[int, np.ndarray] = {}
        self._v: dict[int, np.ndarray] = {}
        self._t: dict[int, int] = {}  # per-parameter step count (a parameter may skip steps)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        ### BEGIN SOLUTION
        b1, b2 = self.betas
        if self.weight_decay:
            if self._decoupled:
                w = w * (1.0 - self.lr * self.weight_decay)
            else:
                g = g + self.weight_decay * w
        t = self._t.get(i, 0) + 1
        self._t[i] = t
        m = b1 * self._m.get(i, np.zeros_like(w)) + (1.0 - b1) * g
        v = b2 * self._v.get(i, np.zeros_like(w)) + (1.0 - b2) * g * g
        self._m[i], self._v[i] = m, v
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        return w - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        ### END SOLUTION

    def _state_arrays(self) -> list[np.ndarray]:
        ### BEGIN SOLUTION
        return list(self._m.values()) + list(self._v.values())
        ### END SOLUTION


class AdamW(Adam):
    """Adam with decoupled weight decay: `p <- p * (1 - lr * wd)` then the Adam step."""

    _decoupled = True

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

# %%
_w = Tensor(np.array([1.0, -2.0]), requires_grad=True)
_opt = Adam([_w], lr=0.1)
_w.grad = Tensor(np.array([0.001, 50.0]))
_opt.step()
assert np.allclose(_w.data, [0.9, -2.1])  # first Adam step = lr * sign(g), whatever |g|
assert _opt.state_nbytes() == 2 * _w.data.nbytes

# %% [markdown]
# ## Learning-rate schedules
#
# A large learning rate makes fast progress early; a small one settles into a minimum.
# A schedule owns the optimizer's `lr`: it remembers the initial value (`base_lr`) and,
# on each `step()`, sets `optimizer.lr` from a formula of the step count `t`:
#
# * `StepLR`: multiply by `gamma` every `step_size` steps (`base_lr * gamma ** (t // step_size)`);
# * `CosineLR`: follow half a cosine from `base_lr` down to `min_lr` over `total_steps`,
#   then stay at `min_lr`;
# * `WarmupLR`: ramp linearly from `base_lr / warmup_steps` up to `base_lr`, then stay; Adam's
#   early moment estimates are noisy, and a short warm-up keeps the first steps small.
#
# Call `scheduler.step()` once per epoch (our `Trainer` does) or once per batch: the schedule
# only counts calls.

# %%
#| export
class LRScheduler:
    """Base class: sets `optimizer.lr = get_lr()` after each `step()`."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_step = 0
        optimizer.lr = self.get_lr()

    def get_lr(self) -> float:
        """The learning rate for the current step count."""
        raise NotImplementedError(f"{type(self).__name__} must implement get_lr()")

    def step(self) -> None:
        """Advance one step and update the optimizer's learning rate."""
        ### BEGIN SOLUTION
        self.last_step += 1
        self.optimizer.lr = self.get_lr()
        ### END SOLUTION


class StepLR(LRScheduler):
    """Multiply the learning rate by `gamma` every `step_size` steps."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        _check_hparam("gamma", gamma)
        self.step_size = int(step_size)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        ### BEGIN SOLUTION
        return self.base_lr * self.gamma ** (self.last_step // self.step_size)
        ### END SOLUTION


class CosineLR(LRScheduler):
    """Cosine annealing from the initial lr to `min_lr` over `total_steps` steps."""

    def __init__(self, optimizer: Optimizer, total_steps: int, min_lr: float = 0.0) -> None:
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        _check_hparam("min_lr", min_lr)
        self.total_steps = int(total_steps)
        self.min_lr = float(min_lr)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        ### BEGIN SOLUTION
        t = min(self.last_step, self.total_steps)
        cos = 0.5 * (1.0 + math.cos(math.pi * t / self.total_steps))
        return self.min_lr + (self.base_lr - self.min_lr) * cos
        ### END SOLUTION


class WarmupLR(LRScheduler):
    """Linear warm-up: `base_lr * (t + 1) / warmup_steps` for the first steps, then `base_lr`."""

    def __init__(self, optimizer: Optimizer, warmup_steps: int) -> None:
        if warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {warmup_steps}")
        self.warmup_steps = int(warmup_steps)
        super().__init__(optimizer)

    def get_lr(self) -> float:
        ### BEGIN SOLUTION
        return self.base_lr * min(1.0, (self.last_step + 1) / self.warmup_steps)
        ### END SOLUTION

# %%
_opt = SGD([Tensor(np.zeros(1), requires_grad=True)], lr=1.0)
_sched = CosineLR(_opt, total_steps=4, min_lr=0.0)
_lrs = []
for _ in range(5):
    _sched.step()
    _lrs.append(_opt.lr)
assert np.allclose(_lrs, [0.5 + 0.5 * np.cos(np.pi / 4), 0.5, 0.5 - 0.5 * np.cos(np.pi / 4), 0.0, 0.0])
_opt.lr = 1.0
_step = StepLR(_opt, step_size=2, gamma=0.5)
assert [(_step.step(), _opt.lr)[1] for _ in range(4)] == [1.0, 0.5, 0.5, 0.25]
