# %% [markdown]
# # Autograd
# > Reverse-mode automatic differentiation: importing this module makes every Tensor op differentiable.
#
# Until now a `Tensor` op just computed numbers. Training needs, for a scalar loss `L`, the gradient
# `dL/dp` for every parameter `p`. Reverse-mode autodiff (backpropagation) gets all of them for about
# the cost of one extra forward pass, however many parameters there are:
#
# 1. **Record.** While computing forward, every op that involves a tensor with `requires_grad` returns
#    a result that remembers its inputs (`_prev`) and a closure (`_backward`) that knows the op's local
#    derivative (its *vector-Jacobian product*): given `dL/d(out)`, add `dL/d(input)` to each input.
# 2. **Order.** `loss.backward()` sorts the recorded graph topologically, so each node is processed
#    only after every node that consumes it has contributed its gradient.
# 3. **Sweep.** Walk that order from the loss back to the leaves, calling each `_backward`.
#
# **Systems angle.** The graph keeps every intermediate result alive until backward runs: for a deep
# network, *activation memory*, not parameter memory, dominates training memory (that is what
# PyTorch's gradient checkpointing trades compute for). Backward costs roughly 2x the forward FLOPs
# (a matmul `x @ W` needs two matmuls backward: `g @ W.T` and `x.T @ g`). `no_grad()` skips the
# recording entirely, which is why inference should run inside it. PyTorch implements exactly this
# design in C++: each result carries a `grad_fn` node; `backward()` runs a topological sweep in an
# engine that, like ours, is iterative rather than recursive, so a 100k-op graph does not blow the stack.
#
# **How it plugs in.** Module 01 made every differentiable op a `Tensor` method. This module wraps
# each of those methods: the wrapper calls the original forward and, when gradients are wanted,
# attaches `_prev` and `_backward` to the result. `enable_autograd()` runs once, at import.
# Activations, losses, convolutions and attention, all written from Tensor methods before this
# module existed, become differentiable without a single change.

# %%
#| default_exp core.autograd

# %%
#| export
from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import numpy as np

from tinytorch.core.tensor import Tensor, _index, _pad_width, _shape_args

# %% [markdown]
# ## Grad mode
#
# Whether ops record a graph is a single switch. `no_grad()` turns it off inside a `with` block (and
# restores the previous value, so blocks nest); `is_grad_enabled()` reads it. A result requires grad
# iff grad mode is on **and** at least one input requires grad. Tensors created directly (including
# `Parameter`s) keep the `requires_grad` they were given: grad mode only affects op results.
#
# The switch lives on a private class rather than a bare module global, the one piece of state the
# framework needs (PyTorch keeps it thread-local in C++).

# %%
#| export
class _GradMode:
    """Holder of the process-wide grad-mode flag."""

    enabled: bool = True


def is_grad_enabled() -> bool:
    """True if ops currently record the graph for backward."""
    ### BEGIN SOLUTION
    return _GradMode.enabled
    ### END SOLUTION


class no_grad:
    """Context manager (and decorator) that disables graph recording inside its block."""

    def __enter__(self) -> no_grad:
        self._prev = _GradMode.enabled
        _GradMode.enabled = False
        return self

    def __exit__(self, *exc: Any) -> None:
        _GradMode.enabled = self._prev

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        ### BEGIN SOLUTION
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with no_grad():
                return fn(*args, **kwargs)
        return wrapper
        ### END SOLUTION

# %%
assert is_grad_enabled()
with no_grad():
    assert not is_grad_enabled()
    with no_grad():
        pass
    assert not is_grad_enabled()
assert is_grad_enabled()

# %% [markdown]
# ## Gradients flowing through broadcasting
#
# If `b` (shape `(3,)`) was broadcast against `x` (shape `(4, 3)`), the forward pass *used* each element
# of `b` four times, so its gradient is the sum of the four incoming gradients. In general: sum the
# gradient over the leading axes that broadcasting added, and over every axis where the operand had
# size 1. `_unbroadcast` does that; every binary op's backward calls it.
#
# `_accumulate` adds a gradient into `t.grad` (creating it on first use, in the tensor's own dtype), so
# gradients of a tensor used in several places add up, and so do gradients across backward calls,
# just as in PyTorch, which is why training loops call `zero_grad()`.

# %%
#| export
def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` down to `shape`, undoing numpy broadcasting."""
    ### BEGIN SOLUTION
    if grad.shape == shape:
        return grad
    if grad.ndim < len(shape):
        return np.broadcast_to(grad, shape)
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)
    ### END SOLUTION


def _accumulate(t: Tensor, grad: np.ndarray) -> None:
    """Add `grad` (reduced to t's shape) into `t.grad`."""
    ### BEGIN SOLUTION
    grad = _unbroadcast(np.asarray(grad), t.shape)
    dtype = t.data.dtype if np.issubdtype(t.data.dtype, np.floating) else np.float64
    if t.grad is None:
        t.grad = Tensor(np.array(grad, dtype=dtype))
    else:
        t.grad.data = (t.grad.data + grad).astype(dtype, copy=False)
    ### END SOLUTION

# %%
assert _unbroadcast(np.ones((4, 3)), (3,)).tolist() == [4, 4, 4]
assert _unbroadcast(np.ones((2, 4, 3)), (4, 1)).tolist() == [[6]] * 4
_t = Tensor(np.zeros(3))
_accumulate(_t, np.ones((2, 3)))
_accumulate(_t, np.ones(3))
assert _t.grad.data.tolist() == [3, 3, 3]

# %% [markdown]
# ## Recording a node
#
# `_record(out, parents, vjp, op)` is the one place where graph edges are created. `vjp(g)` receives
# the gradient of the output (an ndarray) and returns one gradient per parent (or `None` to skip a
# parent that does not need one). The closure stored in `out._backward` reaches `out` through a weak
# reference, so the graph holds no reference cycles and is freed the moment the last tensor of it
# goes away, instead of waiting for Python's cycle collector.

# %%
#| export
def _record(out: Tensor, parents: Sequence[Tensor], vjp: Callable[[np.ndarray], Sequence[Any]], op: str) -> Tensor:
    """Attach graph edges to `out` if grad mode is on and any parent requires grad."""
    ### BEGIN SOLUTION
    if not _GradMode.enabled or not any(p.requires_grad for p in parents):
        return out
    out.requires_grad = True
    out._prev = tuple(p for p in parents if p.requires_grad)
    out._op = op
    ref = weakref.ref(out)
    parents = tuple(parents)

    def _backward() -> None:
        node = ref()
        if node is None or node.grad is None:
            return
        for p, g in zip(parents, vjp(node.grad.data)):
            if g is not None and p.requires_grad:
                _accumulate(p, g)

    out._backward = _backward
    return out
    ### END SOLUTION

# %% [markdown]
# ## The backward sweep
#
# `backward()` first collects the graph in **topological order** with an explicit stack (a recursive
# depth-first search would hit Python's recursion limit on a graph thousands of ops deep: think of an
# RNN unrolled over a long sequence). Then it seeds `dL/dL = 1` and calls every node's `_backward`
# in reverse order. Leaves (tensors with no `_prev`, such as parameters) *accumulate* their gradient
# across calls; intermediate results are reset at the start of each call, so after `backward()` their
# `.grad` holds this pass's gradient (handy for inspection; PyTorch discards them unless asked).

# %%
#| export
def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes reachable from `root` through `_prev`, every node after all of its inputs (iterative DFS)."""
    ### BEGIN SOLUTION
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._prev:
            if id(parent) not in visited:
                stack.append((parent, False))
    return order
    ### END SOLUTION


def _tensor_backward(self: Tensor, grad: Any = None) -> None:
    """Backpropagate from this tensor: accumulate d(self)/d(leaf) into every leaf's `.grad`."""
    ### BEGIN SOLUTION
    if not self.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad: no input had requires_grad=True, "
            "or it was computed inside no_grad()"
        )
    if grad is None:
        if self.size != 1:
            raise RuntimeError(f"backward() without a grad argument needs a scalar output, got shape {self.shape}")
        seed = np.ones(self.shape, dtype=self.dtype if np.issubdtype(self.dtype, np.floating) else np.float64)
    else:
        g = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
        if g.shape != self.shape:
            raise ValueError(f"backward() grad has shape {g.shape}, expected the tensor's shape {self.shape}")
        seed = g
    order = _topological_order(self)
    for node in order:
        if node._prev:
            node.grad = None
    _accumulate(self, seed)
    for node in reversed(order):
        if node._backward is not None:
            node._backward()
    ### END SOLUTION

# %% [markdown]
# ## Local derivatives, op by op
#
# Each patched op calls the original forward (saved in `fwd`), then records a vjp. For a result
# `out` and incoming gradient `g`:
#
# | op | gradient to the inputs |
# |---|---|
# | `a + b`, `a - b` | `g`, `±g` (unbroadcast) |
# | `a * b`, `a / b` | `g·b`, `g·a`; `g/b`, `-g·a/b²` |
# | `a ** p` | `g·p·a^(p-1)` |
# | `a @ b` | `g @ bᵀ`, `aᵀ @ g` (batched; vectors promoted to matrices) |
# | `exp`, `log`, `sqrt` | `g·out`, `g/a`, `g/(2·out)` |
# | `tanh`, `sigmoid`, `abs` | `g·(1-out²)`, `g·out·(1-out)`, `g·sign(a)` |
# | `maximum`/`minimum`/`clip` | `g` routed to the selected input (ties split evenly) |
#
# Reflected operators (`2 - x`, `ndarray @ x`) need nothing: module 01 wrote them in terms of the
# forward operators, which are the ones patched here.

# %%
#| export
def _elementwise_rules(fwd: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Differentiable versions of the arithmetic and elementwise Tensor methods."""

    def add(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        return _record(fwd["__add__"](a, b), (a, b), lambda g: (g, g), "add")
        ### END SOLUTION

    def sub(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        return _record(fwd["__sub__"](a, b), (a, b), lambda g: (g, -g), "sub")
        ### END SOLUTION

    def mul(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        return _record(fwd["__mul__"](a, b), (a, b),
                       lambda g: (g * b.data if a.requires_grad else None,
                                  g * a.data if b.requires_grad else None), "mul")
        ### END SOLUTION

    def div(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        return _record(fwd["__truediv__"](a, b), (a, b),
                       lambda g: (g / b.data if a.requires_grad else None,
                                  -g * a.data / (b.data * b.data) if b.requires_grad else None), "div")
        ### END SOLUTION

    def neg(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return _record(fwd["__neg__"](a), (a,), lambda g: (-g,), "neg")
        ### END SOLUTION

    def pow_(a: Tensor, p: Any) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["__pow__"](a, p)
        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            if p == 0:
                return (np.zeros_like(g),)
            return (g * p * a.data ** (p - 1) if p != 1 else g,)
        return _record(out, (a,), vjp, "pow")
        ### END SOLUTION

    def matmul(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        out = fwd["__matmul__"](a, b)
        def vjp(g: np.ndarray) -> tuple[Any, Any]:
            a2 = a.data if a.ndim > 1 else a.data[None, :]
            b2 = b.data if b.ndim > 1 else b.data[:, None]
            g2 = g if b.ndim > 1 else g[..., None]
            g2 = g2 if a.ndim > 1 else np.expand_dims(g2, -2)
            ga = gb = None
            if a.requires_grad:
                ga = _unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
            if b.requires_grad:
                gb = _unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
            return ga, gb
        return _record(out, (a, b), vjp, "matmul")
        ### END SOLUTION

    def exp(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["exp"](a)
        return _record(out, (a,), lambda g: (g * out.data,), "exp")
        ### END SOLUTION

    def log(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return _record(fwd["log"](a), (a,), lambda g: (g / a.data,), "log")
        ### END SOLUTION

    def sqrt(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["sqrt"](a)
        return _record(out, (a,), lambda g: (g / (2 * out.data),), "sqrt")
        ### END SOLUTION

    def tanh(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["tanh"](a)
        return _record(out, (a,), lambda g: (g * (1 - out.data * out.data),), "tanh")
        ### END SOLUTION

    def sigmoid(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["sigmoid"](a)
        return _record(out, (a,), lambda g: (g * out.data * (1 - out.data),), "sigmoid")
        ### END SOLUTION

    def abs_(a: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return _record(fwd["abs"](a), (a,), lambda g: (g * np.sign(a.data),), "abs")
        ### END SOLUTION

    def _select(name: str, a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        b = Tensor._lift(other, a)
        out = fwd[name](a, b)
        def vjp(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            wins_a = (a.data > b.data) if name == "maximum" else (a.data < b.data)
            share_a = np.where(a.data == b.data, 0.5, wins_a).astype(g.dtype, copy=False)
            return g * share_a, g * (1.0 - share_a)
        return _record(out, (a, b), vjp, name)
        ### END SOLUTION

    def maximum(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        return _select("maximum", a, other)
        ### END SOLUTION

    def minimum(a: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        return _select("minimum", a, other)
        ### END SOLUTION

    def clip(a: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["clip"](a, lo, hi)
        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            inside = np.ones(a.shape, dtype=bool)
            if lo is not None:
                inside &= a.data >= lo
            if hi is not None:
                inside &= a.data <= hi
            return (g * inside,)
        return _record(out, (a,), vjp, "clip")
        ### END SOLUTION

    return {"__add__": add, "__sub__": sub, "__mul__": mul, "__truediv__": div, "__neg__": neg,
            "__pow__": pow_, "__matmul__": matmul, "exp": exp, "log": log, "sqrt": sqrt, "tanh": tanh,
            "sigmoid": sigmoid, "abs": abs_, "maximum": maximum, "minimum": minimum, "clip": clip}

# %% [markdown]
# ## Reductions
#
# A reduction's backward *re-expands* the gradient: `sum` copies `g` back to every summed position,
# `mean` also divides by the count, `var` (population) sends `g·2(a-mean)/N`. For `max`/`min` only the
# winning positions influenced the output, so they receive the gradient (split evenly on ties, so the
# total is preserved). `_expand` re-inserts reduced axes when `keepdims=False`.

# %%
#| export
def _norm_axes(axis: int | tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    ### BEGIN SOLUTION
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(int(ax) % max(ndim, 1) for ax in axes)
    ### END SOLUTION


def _expand(g: np.ndarray, shape: tuple[int, ...], axis: Any, keepdims: bool) -> np.ndarray:
    """Reshape a reduced gradient so it broadcasts against the input `shape`."""
    ### BEGIN SOLUTION
    if not keepdims:
        g = np.expand_dims(g, _norm_axes(axis, len(shape))) if len(shape) else g
    return g
    ### END SOLUTION


def _reduction_rules(fwd: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Differentiable versions of sum, mean, max, min, var."""

    def sum_(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["sum"](a, axis=axis, keepdims=keepdims)
        return _record(out, (a,), lambda g: (np.broadcast_to(_expand(g, a.shape, axis, keepdims), a.shape),), "sum")
        ### END SOLUTION

    def mean(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["mean"](a, axis=axis, keepdims=keepdims)
        n = a.size // max(out.size, 1)
        return _record(out, (a,), lambda g: (np.broadcast_to(_expand(g, a.shape, axis, keepdims) / n, a.shape),),
                       "mean")
        ### END SOLUTION

    def _extreme(name: str, a: Tensor, axis: Any, keepdims: bool) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd[name](a, axis=axis, keepdims=keepdims)
        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            mask = a.data == _expand(out.data, a.shape, axis, keepdims)
            count = mask.sum(axis=_norm_axes(axis, a.ndim), keepdims=True)
            return (_expand(g, a.shape, axis, keepdims) * mask / count,)
        return _record(out, (a,), vjp, name)
        ### END SOLUTION

    def max_(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        return _extreme("max", a, axis, keepdims)
        ### END SOLUTION

    def min_(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        return _extreme("min", a, axis, keepdims)
        ### END SOLUTION

    def var(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["var"](a, axis=axis, keepdims=keepdims)
        n = a.size // max(out.size, 1)
        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            centered = a.data - a.data.mean(axis=_norm_axes(axis, a.ndim), keepdims=True)
            return (_expand(g, a.shape, axis, keepdims) * 2.0 * centered / n,)
        return _record(out, (a,), vjp, "var")
        ### END SOLUTION

    return {"sum": sum_, "mean": mean, "max": max_, "min": min_, "var": var}

# %% [markdown]
# ## Shape ops, indexing and joining
#
# Shape ops move numbers around without changing them, so their backward moves the gradient back:
# `reshape` reshapes it, `transpose` applies the inverse permutation, `pad` slices the padding off,
# `concatenate` splits the gradient, `stack` takes it apart along the new axis, and `where` routes it
# to whichever input was selected. Indexing is the interesting one: a fancy index may pick the same
# element twice (`emb[[3, 3]]`), and both picks must add up. `g_in[idx] += g` would silently keep only
# one of them (numpy buffers the write); `np.add.at` performs an unbuffered scatter-add. This is how
# embedding tables get their gradients.

# %%
#| export
def _shape_rules(fwd: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Differentiable versions of reshape, transpose, getitem, pad, astype, concatenate, stack, where."""

    def reshape(a: Tensor, *shape: Any) -> Tensor:
        ### BEGIN SOLUTION
        return _record(fwd["reshape"](a, *shape), (a,), lambda g: (g.reshape(a.shape),), "reshape")
        ### END SOLUTION

    def transpose(a: Tensor, *axes: Any) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["transpose"](a, *axes)
        perm = [ax % a.ndim for ax in _shape_args(axes)] if axes else list(range(a.ndim))[::-1]
        return _record(out, (a,), lambda g: (np.transpose(g, np.argsort(perm)),), "transpose")
        ### END SOLUTION

    def getitem(a: Tensor, index: Any) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["__getitem__"](a, index)
        idx = _index(index)
        def vjp(g: np.ndarray) -> tuple[np.ndarray]:
            full = np.zeros(a.shape, dtype=np.result_type(g.dtype, a.dtype))
            np.add.at(full, idx, g)
            return (full,)
        return _record(out, (a,), vjp, "getitem")
        ### END SOLUTION

    def pad(a: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["pad"](a, pad_width, value)
        widths = _pad_width(pad_width, a.ndim)
        inner = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, a.shape))
        return _record(out, (a,), lambda g: (g[inner],), "pad")
        ### END SOLUTION

    def astype(a: Tensor, dtype: Any) -> Tensor:
        ### BEGIN SOLUTION
        return _record(fwd["astype"](a, dtype), (a,), lambda g: (g.astype(a.dtype),), "astype")
        ### END SOLUTION

    def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["concatenate"](tensors, axis=axis)
        like = next((t for t in tensors if isinstance(t, Tensor)), None)
        ts = [Tensor._lift(t, like) for t in tensors]
        ax = axis % out.ndim
        bounds = np.cumsum([t.shape[ax] for t in ts])[:-1]
        return _record(out, ts, lambda g: tuple(np.split(g, bounds, axis=ax)), "concatenate")
        ### END SOLUTION

    def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["stack"](tensors, axis=axis)
        like = next((t for t in tensors if isinstance(t, Tensor)), None)
        ts = [Tensor._lift(t, like) for t in tensors]
        ax = axis % out.ndim
        return _record(out, ts, lambda g: tuple(np.take(g, i, axis=ax) for i in range(len(ts))), "stack")
        ### END SOLUTION

    def where(cond: Any, a: Any, b: Any) -> Tensor:
        ### BEGIN SOLUTION
        out = fwd["where"](cond, a, b)
        c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
        like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
        ta, tb = Tensor._lift(a, like), Tensor._lift(b, like)
        return _record(out, (ta, tb), lambda g: (np.where(c, g, 0), np.where(c, 0, g)), "where")
        ### END SOLUTION

    return {"reshape": reshape, "transpose": transpose, "__getitem__": getitem, "pad": pad, "astype": astype,
            "concatenate": concatenate, "stack": stack, "where": where}

# %% [markdown]
# ## Switching it on
#
# `enable_autograd()` saves the original forward methods, installs the wrappers (static methods stay
# static) and replaces the `backward` placeholder. It is idempotent: a flag on the class makes the
# second call a no-op, so importing the module twice, or calling it again, never wraps a wrapper.

# %%
#| export
_STATIC_OPS = ("concatenate", "stack", "where")


def enable_autograd() -> None:
    """Make every Tensor op differentiable (called at import; safe to call again)."""
    if getattr(Tensor, "_autograd_enabled", False):
        return
    names = ("__add__", "__sub__", "__mul__", "__truediv__", "__neg__", "__pow__", "__matmul__", "exp", "log",
             "sqrt", "tanh", "sigmoid", "abs", "maximum", "minimum", "clip", "sum", "mean", "max", "min", "var",
             "reshape", "transpose", "__getitem__", "pad", "astype") + _STATIC_OPS
    fwd = {name: getattr(Tensor, name) for name in names}
    rules = {**_elementwise_rules(fwd), **_reduction_rules(fwd), **_shape_rules(fwd)}
    for name, rule in rules.items():
        wrapped = functools.wraps(fwd[name])(rule)
        setattr(Tensor, name, staticmethod(wrapped) if name in _STATIC_OPS else wrapped)
    Tensor.backward = _tensor_backward
    Tensor._autograd_enabled = True


enable_autograd()

# %%
_x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
_y = (_x * _x).sum()                    # d/dx sum(x^2) = 2x
_y.backward()
assert _y._op == "sum" and _x.grad.data.tolist() == [2.0, 4.0, 6.0]
_y.backward()                           # leaves accumulate across calls
assert _x.grad.data.tolist() == [4.0, 8.0, 12.0]
_w = Tensor(np.ones((3, 2)), requires_grad=True)
(_x @ _w).mean().backward()
assert _w.grad.shape == (3, 2) and np.allclose(_w.grad.data[:, 0], _x.data / 2)
with no_grad():
    assert not (_x * 2).requires_grad

# %% [markdown]
# ## Checking gradients numerically
#
# Every rule above is a place to make a sign or broadcasting mistake, so we test them against the
# definition of the derivative, with central differences:
# `df/dx_i ≈ (f(x + eps·e_i) - f(x - eps·e_i)) / (2·eps)`. The error is `O(eps²)` but rounding error
# grows like `1/eps`, so this needs **float64** inputs (in float32, `eps = 1e-6` is below the
# resolution of the numbers). It costs two forward passes per input element: fine for a test on a
# 3×4 tensor, hopeless for a real network, which is exactly why we need reverse mode.
#
# `numerical_gradient(f, x)` perturbs `x.data` in place (and restores it); `f(x)` must return a
# scalar (a non-scalar result is summed). `check_gradients(f, inputs)` compares autograd with it for
# every input; non-scalar outputs are contracted with fixed random weights so every output entry is
# tested (a plain sum would hide errors in, e.g., softmax, whose rows always sum to 1).

# %%
#| export
def _scalar_value(out: Any) -> float:
    ### BEGIN SOLUTION
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    return float(np.sum(data))
    ### END SOLUTION


def numerical_gradient(f: Callable[[Tensor], Any], x: Tensor | np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central-difference estimate of d f(x) / dx (f returns a scalar; non-scalars are summed)."""
    ### BEGIN SOLUTION
    t = x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=np.float64))
    if not np.issubdtype(t.dtype, np.floating):
        raise TypeError(f"numerical_gradient needs a floating-point input, got dtype {t.dtype}")
    original = t.data
    t.data = np.array(original, order="C")      # a private contiguous copy to perturb
    flat = t.data.reshape(-1)
    grad = np.zeros(t.size, dtype=np.float64)
    try:
        with no_grad():
            for i in range(flat.size):
                orig = flat[i]
                flat[i] = orig + eps
                plus = _scalar_value(f(t))
                flat[i] = orig - eps
                minus = _scalar_value(f(t))
                flat[i] = orig
                grad[i] = (plus - minus) / (2 * eps)
    finally:
        t.data = original
    return grad.reshape(t.shape)
    ### END SOLUTION


def check_gradients(f: Callable[..., Tensor], inputs: Sequence[Tensor], eps: float = 1e-6, atol: float = 1e-5,
                    rtol: float = 1e-4) -> bool:
    """True if autograd's gradients of f(*inputs) match central differences for every input.

    Every input gets `requires_grad=True` and its `.grad` reset. Use float64 inputs.
    """
    ### BEGIN SOLUTION
    inputs = [t if isinstance(t, Tensor) else Tensor(np.asarray(t, dtype=np.float64)) for t in inputs]
    for t in inputs:
        t.requires_grad = True
        t.grad = None
    previous, _GradMode.enabled = _GradMode.enabled, True
    try:
        probe = f(*inputs)
        weights = np.random.default_rng(0).uniform(0.5, 1.5, size=probe.shape) if probe.size > 1 else None

        def scalar(*xs: Tensor) -> Tensor:
            out = f(*xs)
            return (out * weights).sum() if weights is not None else out.sum()

        scalar(*inputs).backward()
        for i, t in enumerate(inputs):
            def f_i(x: Tensor, i: int = i) -> Tensor:
                return scalar(*inputs[:i], x, *inputs[i + 1:])
            numeric = numerical_gradient(f_i, t, eps)
            analytic = np.zeros(t.shape) if t.grad is None else t.grad.data
            if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
                return False
        return True
    finally:
        _GradMode.enabled = previous
    ### END SOLUTION

# %%
_a = Tensor(np.array([[0.5, -1.0, 2.0]]))
_b = Tensor(np.array([[1.5], [0.3]]))
assert check_gradients(lambda a, b: (a * b + a.exp() / b).tanh(), [_a, _b])
assert np.allclose(numerical_gradient(lambda t: (t ** 3).sum(), Tensor(np.array([2.0]))), [12.0])
