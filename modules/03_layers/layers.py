# %% [markdown]
# # Layers
# > Module base class, Parameter, Linear and Dropout: the building blocks every network is made of.
#
# A neural network is a function with a lot of numbers inside it. Those numbers (weights and biases)
# have to be *found* (by an optimizer), *saved* (to disk), *counted* (for memory budgets) and *switched*
# between training and inference behaviour. This chapter builds the small piece of bookkeeping that makes
# all of that uniform, the same idea as PyTorch's `torch.nn.Module`:
#
# - `Parameter`: a `Tensor` that always requires a gradient. Marking a tensor as a parameter is how a
#   layer says "the optimizer should update this".
# - `Module`: a base class that discovers parameters by walking its attributes, so a model made of
#   nested modules exposes one flat list (`parameters()`), stable dotted names (`named_parameters()`),
#   a `state_dict()` of plain numpy arrays and a `training` flag that propagates to every child.
# - `Linear`: `y = x @ W + b`, the workhorse layer, with a proper (Kaiming) initialisation.
# - `Dropout`: the simplest layer whose behaviour differs between training and evaluation.
#
# Everything is built from `Tensor` methods only. This module does not know about autograd: once
# `tinytorch.core.autograd` is imported, the Tensor methods record a graph and every layer here becomes
# differentiable without a single change.
#
# **Systems angle.** A `Linear(in, out)` layer stores `in*out + out` numbers: at float32 that is
# `4 * (in*out + out)` bytes. A forward pass on a batch of `B` rows costs about `2*B*in*out` floating point
# operations (one multiply and one add per weight per row). Training needs roughly 3x that (forward, plus
# two matmuls of the same size in the backward pass) and keeps the activations alive for the backward pass,
# and an Adam optimizer keeps two more arrays the size of every parameter. `num_parameters()` is the
# first number to look at when a model does not fit in memory.

# %%
#| default_exp core.layers

# %%
#| export
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Parameter
#
# A `Parameter` is just a `Tensor` with `requires_grad=True`. Being a separate class lets `Module` find
# parameters by type: a plain `Tensor` attribute (a cached constant, say) is *not* a parameter and is not
# trained or saved. PyTorch does exactly this with `torch.nn.Parameter`.

# %%
#| export
class Parameter(Tensor):
    """A trainable Tensor: always `requires_grad=True`, found automatically by `Module.parameters()`."""

    def __init__(self, data: Any, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        text = super().__repr__()
        return "Parameter" + text[len("Tensor"):] if text.startswith("Tensor") else text

# %%
_p = Parameter(np.ones((2, 3), dtype=np.float32))
assert isinstance(_p, Tensor) and _p.requires_grad and _p.shape == (2, 3) and _p.grad is None
assert repr(_p).startswith("Parameter(")

# %% [markdown]
# ## Module
#
# `Module` walks its own attributes in the order they were assigned (`vars(self)` keeps insertion order)
# and collects:
#
# - attributes that are `Parameter`s,
# - attributes that are `Module`s (recursively),
# - attributes that are lists or tuples of `Module`s / `Parameter`s (for `Sequential`-style containers).
#
# A parameter shared between two layers (weight tying) appears once: the walk skips objects it has seen.
# The dotted names (`"layers.0.weight"`) are the keys of the `state_dict`, the format `mlops` saves to
# disk, so they must be deterministic. `load_state_dict` is strict: a missing key, an unexpected key or a
# shape mismatch is an error naming the culprit (silently loading half a model is a classic bug). Key
# mismatches raise an error that is both a `KeyError` and a `ValueError`, so either `except` catches it.

# %%
#| export
class _StateDictKeyError(KeyError, ValueError):
    """Missing or unexpected state-dict keys (a KeyError and a ValueError, with a readable message)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class Module:
    """Base class of every layer and model: parameter discovery, train/eval mode, state dicts."""

    training: bool = True

    def __init__(self) -> None:
        self.training = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the module's output; subclasses override this."""
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        ### BEGIN SOLUTION
        return self.forward(*args, **kwargs)
        ### END SOLUTION

    def _children(self) -> Iterator[tuple[str, Any]]:
        """Yield `(name, obj)` for every Parameter or Module held directly, in attribute order."""
        ### BEGIN SOLUTION
        for name, value in vars(self).items():
            if isinstance(value, (Parameter, Module)):
                yield name, value
            elif isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    if isinstance(item, (Parameter, Module)):
                        yield f"{name}.{i}", item
        ### END SOLUTION

    def _walk(self, prefix: str, seen: set[int]) -> Iterator[tuple[str, "Parameter"]]:
        ### BEGIN SOLUTION
        for name, obj in self._children():
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, Parameter):
                yield prefix + name, obj
            else:
                yield from obj._walk(f"{prefix}{name}.", seen)
        ### END SOLUTION

    def named_parameters(self) -> list[tuple[str, "Parameter"]]:
        """All parameters with dotted names (e.g. `"layers.0.weight"`), each parameter once."""
        ### BEGIN SOLUTION
        return list(self._walk("", {id(self)}))
        ### END SOLUTION

    def parameters(self) -> list["Parameter"]:
        """All parameters, recursively, in attribute order, without duplicates."""
        ### BEGIN SOLUTION
        return [p for _, p in self.named_parameters()]
        ### END SOLUTION

    def modules(self) -> list["Module"]:
        """This module and every sub-module (breadth first, each once)."""
        ### BEGIN SOLUTION
        found: list[Module] = [self]
        seen = {id(self)}
        queue = [self]
        while queue:
            current = queue.pop(0)
            for _, obj in current._children():
                if isinstance(obj, Module) and id(obj) not in seen:
                    seen.add(id(obj))
                    found.append(obj)
                    queue.append(obj)
        return found
        ### END SOLUTION

    def train(self, mode: bool = True) -> "Module":
        """Set training mode on this module and all sub-modules; returns self."""
        ### BEGIN SOLUTION
        for m in self.modules():
            m.training = bool(mode)
        return self
        ### END SOLUTION

    def eval(self) -> "Module":
        """Switch to evaluation mode (same as `train(False)`); returns self."""
        ### BEGIN SOLUTION
        return self.train(False)
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Forget the gradients of all parameters (set `.grad` to None)."""
        ### BEGIN SOLUTION
        for p in self.parameters():
            p.grad = None
        ### END SOLUTION

    def num_parameters(self) -> int:
        """Total number of scalar parameters."""
        ### BEGIN SOLUTION
        return int(sum(p.size for p in self.parameters()))
        ### END SOLUTION

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's data, keyed by its dotted name."""
        ### BEGIN SOLUTION
        return {name: np.array(p.data, copy=True) for name, p in self.named_parameters()}
        ### END SOLUTION

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy arrays from `state` into the parameters; keys and shapes must match exactly."""
        ### BEGIN SOLUTION
        named = dict(self.named_parameters())
        missing = sorted(set(named) - set(state))
        unexpected = sorted(set(state) - set(named))
        if missing or unexpected:
            msg = (f"state dict does not match {type(self).__name__}: "
                   f"missing keys {missing}, unexpected keys {unexpected}")
            raise _StateDictKeyError(msg)
        for name, p in named.items():
            value = np.asarray(state[name])
            if value.shape != p.data.shape:
                msg = f"shape mismatch for {name!r}: model has {p.data.shape}, state dict has {value.shape}"
                raise ValueError(msg)
        for name, p in named.items():
            p.data = np.array(state[name], dtype=p.data.dtype, copy=True)
        ### END SOLUTION

    def extra_repr(self) -> str:
        """Constructor arguments shown by `repr`; subclasses override this."""
        ### BEGIN SOLUTION
        return ""
        ### END SOLUTION

    def __repr__(self) -> str:
        lines = [f"  ({name}): " + repr(obj).replace("\n", "\n  ")
                 for name, obj in self._children() if isinstance(obj, Module)]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ")" if not lines else head + "\n" + "\n".join(lines) + "\n)"

# %%
class _Pair(Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = Parameter(np.zeros(3))
        self.b = Parameter(np.zeros((2, 2)))

class _Outer(Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _Pair()
        self.blocks = [_Pair(), _Pair()]
        self.tied = self.inner.a          # weight tying: counted once

_o = _Outer()
assert [n for n, _ in _o.named_parameters()] == [
    "inner.a", "inner.b", "blocks.0.a", "blocks.0.b", "blocks.1.a", "blocks.1.b"]
assert _o.num_parameters() == 3 * 7
assert _o.eval() is _o and not _o.blocks[1].training and _o.train().inner.training

# %% [markdown]
# ## Linear
#
# `Linear(in_features, out_features)` stores `weight` with shape `(in, out)`, so the forward pass is the
# single matmul `x @ weight + bias` for any batch shape `(..., in)`. (PyTorch stores `(out, in)` and
# computes `x @ W.T`; the math is the same, ours avoids the transpose.)
#
# **Initialisation matters.** If weights are too small, activations shrink layer after layer; too large,
# they explode. Kaiming (He) initialisation draws `W ~ U(-b, b)` with `b = sqrt(6 / fan_in)`, which gives
# `Var(W) = 2 / fan_in`: exactly what keeps the variance of activations constant through a ReLU network
# (ReLU zeroes half the signal, the factor 2 compensates). PyTorch's default `Linear` init is the same
# family with a smaller gain (`b = 1 / sqrt(fan_in)`). Biases start at zero. Random numbers come from a
# seeded `np.random.Generator`, so two runs build identical models.

# %%
#| export
def _as_tensor(x: Any) -> Tensor:
    ### BEGIN SOLUTION
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    ### END SOLUTION


def _rng_or_default(rng: np.random.Generator | None) -> np.random.Generator:
    ### BEGIN SOLUTION
    return np.random.default_rng(0) if rng is None else rng
    ### END SOLUTION


def _kaiming_uniform(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator) -> np.ndarray:
    """`U(-b, b)` with `b = sqrt(6 / fan_in)` (He init for ReLU networks), as float32."""
    ### BEGIN SOLUTION
    bound = math.sqrt(6.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)
    ### END SOLUTION

# %%
_w = _kaiming_uniform((256, 512), 256, np.random.default_rng(0))
assert _w.dtype == np.float32 and abs(_w.var() - 2 / 256) < 0.05 * 2 / 256   # Var(W) = 2 / fan_in

# %% [markdown]
# With the initialiser in hand, the layer itself is a few lines. It checks the feature size up front, so
# a wrong input shape fails with a message that names the layer instead of deep inside a matmul.

# %%
#| export
class Linear(Module):
    """Fully connected layer `y = x @ weight + bias`, weight of shape `(in_features, out_features)`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if int(in_features) < 1 or int(out_features) < 1:
            msg = f"Linear needs positive sizes, got in_features={in_features}, out_features={out_features}"
            raise ValueError(msg)
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        rng = _rng_or_default(rng)
        self.weight = Parameter(_kaiming_uniform((self.in_features, self.out_features), self.in_features, rng))
        self.bias = Parameter(np.zeros(self.out_features, dtype=np.float32)) if bias else None

    def forward(self, x: Tensor) -> Tensor:
        """Apply the layer to `x` of shape `(..., in_features)`."""
        ### BEGIN SOLUTION
        x = _as_tensor(x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            msg = f"Linear expected input with last dimension {self.in_features}, got shape {x.shape}"
            raise ValueError(msg)
        out = x @ self.weight
        return out + self.bias if self.bias is not None else out
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        ### END SOLUTION

# %%
_lin = Linear(4, 3, rng=np.random.default_rng(1))
_x = np.arange(8, dtype=np.float32).reshape(2, 4)
assert np.allclose(_lin(Tensor(_x)).numpy(), _x @ _lin.weight.numpy())   # bias starts at zero
assert _lin.num_parameters() == 4 * 3 + 3 and abs(_lin.weight.numpy()).max() <= math.sqrt(6 / 4)

# %% [markdown]
# ## Dropout
#
# Dropout zeroes each activation with probability `p` during training, which stops units from
# co-adapting. *Inverted* dropout rescales the survivors by `1 / (1 - p)` at training time, so the
# expected activation is unchanged and evaluation is simply the identity: no rescaling at inference,
# which is where speed matters. The mask is a plain numpy array multiplied into the Tensor, so the
# gradient flows only through the kept units. This is why `model.eval()` matters before measuring
# accuracy or exporting a model.

# %%
#| export
class Dropout(Module):
    """Inverted dropout: zero with probability `p` and scale by `1/(1-p)` in training; identity in eval."""

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            msg = f"Dropout probability p must be in [0, 1), got {p}"
            raise ValueError(msg)
        self.p = float(p)
        self._rng = _rng_or_default(rng)

    def forward(self, x: Tensor) -> Tensor:
        """Drop activations at random in training mode; return `x` unchanged in eval mode."""
        ### BEGIN SOLUTION
        x = _as_tensor(x)
        if not self.training or self.p == 0.0:
            return x
        keep = self._rng.random(x.shape) >= self.p
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        return x * (keep / (1.0 - self.p)).astype(dtype)
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"p={self.p}"
        ### END SOLUTION

# %%
_drop = Dropout(0.5, rng=np.random.default_rng(0))
_y = _drop(Tensor(np.ones((200, 50), dtype=np.float32))).numpy()
assert set(np.unique(_y)) <= {0.0, 2.0} and abs(_y.mean() - 1.0) < 0.05
assert (_drop.eval()(Tensor(np.ones(3))).numpy() == 1.0).all()
