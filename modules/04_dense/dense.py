# %% [markdown]
# # Dense networks
# > Sequential containers and a multi-layer perceptron builder.
#
# With `Linear` and an activation function we can already write any fully connected network by hand:
# `y = act(x @ W1 + b1) @ W2 + b2`. Writing it by hand gets old quickly, so this chapter adds two small
# conveniences, the same ones PyTorch offers:
#
# - `Sequential(*layers)`: run layers one after another. It accepts `Module`s *and* plain callables
#   (an activation object, a lambda), so parameter-free steps need no wrapper. It is indexable and
#   sliceable, which is handy to inspect intermediate activations (`model[:2](x)`).
# - `MLP(sizes, activation)`: build `Linear -> act -> Linear -> act -> ... -> Linear` from a list of
#   layer widths. The activation is passed in (a class such as `ReLU`, or any factory), which keeps this
#   module independent of the activations chapter.
#
# **Systems angle.** An MLP with widths `[d0, d1, ..., dL]` has `sum(d_i * d_{i+1} + d_{i+1})`
# parameters and costs about `2 * B * sum(d_i * d_{i+1})` FLOPs per forward pass on a batch of `B`.
# The activations that must be kept for the backward pass cost `B * sum(d_i)` numbers: for large batches
# that, not the weights, is what fills memory. Widening a layer grows the cost quadratically,
# adding a layer grows it linearly: one reason deep-and-narrow beat shallow-and-wide historically.

# %%
#| default_exp core.dense

# %%
#| export
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from tinytorch.core.layers import Linear, Module
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Sequential
#
# The container keeps its layers in a list attribute called `layers`, so `Module`'s parameter walk
# names them `layers.0.weight`, `layers.0.bias`, `layers.2.weight`, ... Plain callables (activations) sit
# in the same list: they have no parameters, so the walk simply skips them, but their index still counts,
# exactly like PyTorch's `nn.Sequential` state dict keys.

# %%
#| export
class Sequential(Module):
    """Apply layers (Modules or plain callables) in order; indexable, sliceable, iterable."""

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not callable(layer):
                msg = f"Sequential layer {i} is not callable: {layer!r} ({type(layer).__name__})"
                raise TypeError(msg)
        self.layers: list[Any] = list(layers)

    def forward(self, x: Tensor) -> Tensor:
        """Feed `x` through every layer in turn."""
        ### BEGIN SOLUTION
        for layer in self.layers:
            x = layer(x)
        return x
        ### END SOLUTION

    def append(self, layer: Any) -> "Sequential":
        """Add a layer at the end; returns self."""
        ### BEGIN SOLUTION
        if not callable(layer):
            msg = f"Sequential layer is not callable: {layer!r} ({type(layer).__name__})"
            raise TypeError(msg)
        self.layers.append(layer)
        return self
        ### END SOLUTION

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): " + repr(layer).replace("\n", "\n  ") for i, layer in enumerate(self.layers)]
        return f"{type(self).__name__}(\n" + "\n".join(lines) + "\n)" if lines else f"{type(self).__name__}()"

# %%
def _relu(t: Tensor) -> Tensor:  # a plain function is a valid layer
    return t.maximum(0.0)

_seq = Sequential(Linear(3, 4), _relu, Linear(4, 2))
assert len(_seq) == 3 and _seq[1] is _relu and len(_seq[:2]) == 2
assert [n for n, _ in _seq.named_parameters()] == ["layers.0.weight", "layers.0.bias",
                                                    "layers.2.weight", "layers.2.bias"]
assert _seq(Tensor(np.ones((5, 3), dtype=np.float32))).shape == (5, 2)

# %% [markdown]
# ## MLP
#
# `MLP([2, 16, 16, 1], activation=ReLU)` builds three `Linear` layers with an activation after each
# hidden one. What to pass as `activation`:
#
# - a class (`ReLU`, `Tanh`): instantiated once per hidden layer;
# - a factory taking no arguments (`lambda: Softmax(axis=-1)`): called once per hidden layer;
# - an activation object (has `forward`) or a one-argument function: used as is, shared by all layers
#   (fine: activations hold no state).
#
# `final_activation` (same rules, default none) goes after the last layer, e.g. a sigmoid for a binary
# classifier; usually you leave it out and let the loss work on raw logits, which is numerically safer.
# All layers draw their initial weights from one generator, so the layers differ from each other but
# the whole model is reproducible from `rng`.

# %%
#| export
class _DefaultReLU(Module):
    """`max(x, 0)`, used when no activation is given (dense does not depend on the activations module)."""

    def forward(self, x: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return x.maximum(0.0)
        ### END SOLUTION


def _make_activation(activation: Any) -> Any:
    """Turn a class, a no-argument factory, an activation object or a function into one layer."""
    ### BEGIN SOLUTION
    if activation is None:
        return _DefaultReLU()
    if isinstance(activation, type):
        return activation()
    if not callable(activation):
        msg = f"activation must be a class, a factory or a callable, got {activation!r}"
        raise TypeError(msg)
    if hasattr(activation, "forward"):
        return activation
    try:
        params = inspect.signature(activation).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: treat as a function of x
        return activation
    required = [p for p in params if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return activation() if not required else activation
    ### END SOLUTION


class MLP(Sequential):
    """`Linear -> activation -> ... -> Linear` with widths `sizes` (input, hidden..., output)."""

    def __init__(self, sizes: Sequence[int], activation: Callable[..., Any] | type | None = None,
                 rng: np.random.Generator | None = None, final_activation: Any = None) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            msg = f"MLP needs at least an input and an output size, got sizes={sizes}"
            raise ValueError(msg)
        if any(s < 1 for s in sizes):
            msg = f"MLP sizes must be positive, got sizes={sizes}"
            raise ValueError(msg)
        rng = np.random.default_rng(0) if rng is None else rng
        layers: list[Any] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(Linear(fan_in, fan_out, rng=rng))
            if i < len(sizes) - 2:
                layers.append(_make_activation(activation))
        if final_activation is not None:
            layers.append(_make_activation(final_activation))
        super().__init__(*layers)
        self.sizes = sizes

# %%
_mlp = MLP([2, 8, 8, 1])
assert len(_mlp) == 5 and _mlp.num_parameters() == (2 * 8 + 8) + (8 * 8 + 8) + (8 * 1 + 1)
assert not np.allclose(_mlp[0].weight.numpy()[:, :1], _mlp[2].weight.numpy()[:2, :1])  # one rng, distinct layers
assert _mlp(Tensor(np.zeros((0, 2), dtype=np.float32))).shape == (0, 1)                 # empty batch
