# %% [markdown]
# # Tensor
# > The n-dimensional array at the heart of tinytorch: a thin, typed wrapper around a numpy array.
#
# Every deep-learning framework is built on one data structure: a tensor, an n-dimensional array of
# numbers with a shape and a dtype. In this chapter we build tinytorch's `Tensor` on top of
# `numpy.ndarray`. numpy already gives us contiguous memory, strides, broadcasting and fast BLAS
# matrix multiplication; our job is to decide *which* operations a tensor offers, because later
# (module 08, autograd) every one of those operations will learn how to propagate gradients.
#
# **Systems angle.** A float32 tensor of shape `(1024, 1024)` is 4 MiB of contiguous memory; the same
# tensor in float64 is 8 MiB and roughly twice as slow to stream through the CPU caches. That is why
# tinytorch, like PyTorch, makes float32 the default for data built from Python numbers, while
# keeping float64 when you explicitly hand it a float64 array (gradient checks need that precision).
# PyTorch's `torch.Tensor` is the same idea with a C++ storage object, a dispatcher that picks CPU or
# GPU kernels, and an autograd "grad_fn" slot; we keep the storage in numpy and the slots in Python.
#
# **The design rule of the whole course:** every differentiable operation is a `Tensor` method (or
# static method). Activations, losses, convolution (im2col), pooling, attention and layer norm are
# all composed from these methods. Module 08 then patches the methods so that all of that code
# becomes differentiable without being rewritten.

# %%
#| default_exp core.tensor

# %%
#| export
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

# %% [markdown]
# ## Creating a tensor: dtype rules
#
# `Tensor(data)` stores `data` as an `np.ndarray` in `.data`. The dtype rules mirror PyTorch:
#
# * Python floats (scalars or nested lists) become **float32**: numpy would pick float64, which
#   doubles memory and halves throughput for no benefit in training.
# * An ndarray (or numpy scalar) **keeps its dtype**: a float64 array stays float64, ints stay ints.
# * Python ints and bools stay integer/bool.
# * `dtype=` overrides everything.
#
# An ndarray is *not copied* (like `torch.from_numpy`): the tensor shares memory with it. Copies are
# the single biggest hidden cost in array code, so we only copy when asked.
#
# The tensor also carries the slots autograd will use: `requires_grad`, `grad` (a Tensor or None),
# `_prev` (the tensors this one was computed from), `_backward` (a closure that pushes this tensor's
# gradient into `_prev`) and `_op` (a label for debugging). Until module 08 is imported they stay empty
# and `backward()` explains what is missing.
#
# `__array_priority__ = 100` tells numpy to hand `ndarray + Tensor` over to `Tensor.__radd__`
# instead of trying to treat the tensor as an array element.

# %%
#| export
def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert `data` to an ndarray following tinytorch's dtype rules."""
    ### BEGIN SOLUTION
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.asarray(data)
        return arr if dtype is None else arr.astype(dtype, copy=False)
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    arr = np.asarray(data)
    if arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif arr.dtype == object:
        raise TypeError(f"cannot build a Tensor from {type(data).__name__} (object dtype)")
    return arr
    ### END SOLUTION


class Tensor:
    """An n-dimensional array (numpy-backed) with slots for automatic differentiation."""

    __array_priority__ = 100

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = _to_array(data, dtype)
        self.requires_grad: bool = bool(requires_grad)
        self.grad: Tensor | None = None
        self._prev: tuple[Tensor, ...] = ()
        self._backward: Callable[[], None] | None = None
        self._op: str = ""

    # ---- basic properties -------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The tensor's shape."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """Total number of elements."""
        return int(self.data.size)

    @property
    def dtype(self) -> np.dtype:
        """The numpy dtype of the data."""
        return self.data.dtype

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        ### BEGIN SOLUTION
        return self.data
        ### END SOLUTION

    def item(self) -> Any:
        """The single element as a Python number."""
        ### BEGIN SOLUTION
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with exactly one element, got shape {self.shape}")
        return self.data.item()
        ### END SOLUTION

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", threshold=50)
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"{type(self).__name__}({body}, shape={self.shape}, dtype={self.dtype}{grad})"

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        ### BEGIN SOLUTION
        return float(self.item())
        ### END SOLUTION

    def detach(self) -> Tensor:
        """A new tensor sharing the same data, cut off from the graph (no grad)."""
        ### BEGIN SOLUTION
        return Tensor(self.data)
        ### END SOLUTION

    def astype(self, dtype: Any) -> Tensor:
        """A copy converted to `dtype`."""
        ### BEGIN SOLUTION
        return Tensor(self.data.astype(dtype))
        ### END SOLUTION

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        ### BEGIN SOLUTION
        self.grad = None
        ### END SOLUTION

    def backward(self, grad: Any = None) -> None:
        """Placeholder: reverse-mode differentiation is added by `tinytorch.core.autograd`."""
        raise RuntimeError(
            "backward() is not available yet: import tinytorch.core.autograd to make Tensor ops differentiable"
        )

    @staticmethod
    def _lift(value: Any, like: Tensor | None = None) -> Tensor:
        """Wrap a scalar/ndarray operand as a Tensor; Python scalars take `like`'s dtype when numpy would."""
        ### BEGIN SOLUTION
        if isinstance(value, Tensor):
            return value
        if isinstance(value, (np.ndarray, np.generic)) or like is None:
            return Tensor(value)
        if isinstance(value, (bool, int, float)):
            return Tensor(np.asarray(value, dtype=np.result_type(like.data, value)))
        return Tensor(value)
        ### END SOLUTION


# %%
a = Tensor([[1.0, 2.0], [3.0, 4.0]])
assert a.dtype == np.float32 and a.shape == (2, 2) and a.ndim == 2 and a.size == 4
assert Tensor(np.zeros(3)).dtype == np.float64          # ndarrays keep their dtype
assert Tensor([1, 2, 3]).dtype.kind == "i"               # ints stay ints
assert Tensor(2.5).item() == 2.5 and len(a) == 2 and a.grad is None and a._prev == ()
try:
    a.backward()
except RuntimeError as e:
    assert "tinytorch.core.autograd" in str(e)
a

# %% [markdown]
# ## Elementwise arithmetic with broadcasting
#
# Binary operators accept a Tensor, an ndarray or a Python scalar on either side. Shapes follow
# numpy's broadcasting rules: trailing dimensions are aligned, and a dimension of size 1 is
# *virtually* repeated. Broadcasting costs no memory (numpy uses stride 0), but it matters for
# gradients: if `b` of shape `(3,)` was added to every row of `x` of shape `(4, 3)`, then `b`'s
# gradient is the **sum** over the 4 rows. Autograd will do that reduction for us.
#
# Each reflected operator (`2 - x`, `ndarray @ x`) lifts the left operand to a Tensor and calls the
# forward operator, so autograd only has to patch `__add__`, `__sub__`, ... and the reflected forms
# follow automatically. Comparisons return bool tensors, which are never differentiable.

# %%
#| export
def _broadcast_error(op: str, a: Tensor, b: Tensor, err: Exception) -> ValueError:
    ### BEGIN SOLUTION
    return ValueError(f"{op}: cannot broadcast shapes {a.shape} and {b.shape} ({err})")
    ### END SOLUTION


def _binary(op: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Callable[[Tensor, Any], Tensor]:
    def method(self: Tensor, other: Any) -> Tensor:
        ### BEGIN SOLUTION
        o = Tensor._lift(other, self)
        try:
            return Tensor(np.asarray(fn(self.data, o.data)))
        except ValueError as err:
            raise _broadcast_error(op, self, o, err) from None
        ### END SOLUTION
    method.__name__ = f"__{op}__"
    method.__doc__ = f"Elementwise {op} with numpy broadcasting."
    return method


Tensor.__add__ = _binary("add", np.add)
Tensor.__sub__ = _binary("sub", np.subtract)
Tensor.__mul__ = _binary("mul", np.multiply)
Tensor.__truediv__ = _binary("truediv", np.true_divide)
Tensor.__lt__ = _binary("lt", np.less)
Tensor.__le__ = _binary("le", np.less_equal)
Tensor.__gt__ = _binary("gt", np.greater)
Tensor.__ge__ = _binary("ge", np.greater_equal)


def _radd(self: Tensor, other: Any) -> Tensor:
    ### BEGIN SOLUTION
    return Tensor._lift(other, self) + self
    ### END SOLUTION


def _rsub(self: Tensor, other: Any) -> Tensor:
    ### BEGIN SOLUTION
    return Tensor._lift(other, self) - self
    ### END SOLUTION


def _rmul(self: Tensor, other: Any) -> Tensor:
    ### BEGIN SOLUTION
    return Tensor._lift(other, self) * self
    ### END SOLUTION


def _rtruediv(self: Tensor, other: Any) -> Tensor:
    ### BEGIN SOLUTION
    return Tensor._lift(other, self) / self
    ### END SOLUTION


def _neg(self: Tensor) -> Tensor:
    """Elementwise negation."""
    ### BEGIN SOLUTION
    return Tensor(-self.data)
    ### END SOLUTION


def _pow(self: Tensor, exponent: Any) -> Tensor:
    """Elementwise power with a scalar exponent."""
    ### BEGIN SOLUTION
    if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
        raise TypeError("Tensor ** exponent supports scalar exponents only (use exp/log for tensor exponents)")
    return Tensor(np.asarray(self.data ** exponent))
    ### END SOLUTION


Tensor.__radd__ = _radd
Tensor.__rsub__ = _rsub
Tensor.__rmul__ = _rmul
Tensor.__rtruediv__ = _rtruediv
Tensor.__neg__ = _neg
Tensor.__pow__ = _pow

# %%
x = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
b = Tensor([10.0, 20.0, 30.0])
assert np.allclose((x + b).data, x.data + b.data) and (x + b).dtype == np.float32
assert np.allclose((2.0 - x).data, 2.0 - x.data) and (x * 0.5).dtype == np.float32
assert np.allclose((np.ones(3, dtype=np.float32) / b).data, 1 / b.data)
assert (x ** 2).data[1, 2] == 36.0 and (-x).data[0, 0] == -1.0
assert (x > 2.0).dtype == np.bool_ and (x > 2.0).data.sum() == 4
try:
    x + Tensor([1.0, 2.0])
except ValueError as e:
    assert "(2, 3)" in str(e) and "(2,)" in str(e)

# %% [markdown]
# ## Matrix multiplication
#
# `a @ b` follows `np.matmul`: 2-D × 2-D is a matrix product, 1-D operands are treated as vectors,
# and leading "batch" dimensions broadcast (`(B, T, D) @ (D, H)` is a batch of products). This is
# the most expensive op in deep learning: an `(m, k) @ (k, n)` product costs `2·m·k·n` floating point
# operations while reading only `m·k + k·n` numbers, which is why BLAS libraries (and GPUs) reach a
# large fraction of peak speed on it. numpy calls an optimized BLAS `gemm`; module 12 writes naive
# and blocked versions to see why that matters. A shape mismatch gets an error naming both shapes.

# %%
#| export
def _matmul(self: Tensor, other: Any) -> Tensor:
    """Matrix product with np.matmul semantics (batched, broadcasting leading dims)."""
    ### BEGIN SOLUTION
    o = Tensor._lift(other, self)
    if self.ndim == 0 or o.ndim == 0:
        raise ValueError(f"matmul needs operands with at least 1 dimension, got shapes {self.shape} and {o.shape}")
    k_left = self.shape[-1]
    k_right = o.shape[-2] if o.ndim > 1 else o.shape[0]
    if k_left != k_right:
        raise ValueError(
            f"matmul shape mismatch: {self.shape} @ {o.shape} (inner dimensions {k_left} and {k_right} differ)"
        )
    try:
        return Tensor(np.asarray(np.matmul(self.data, o.data)))
    except ValueError as err:
        raise ValueError(f"matmul shape mismatch: {self.shape} @ {o.shape} ({err})") from None
    ### END SOLUTION


def _rmatmul(self: Tensor, other: Any) -> Tensor:
    ### BEGIN SOLUTION
    return Tensor._lift(other, self) @ self
    ### END SOLUTION


Tensor.__matmul__ = _matmul
Tensor.__rmatmul__ = _rmatmul

# %%
w = Tensor(np.arange(6, dtype=np.float32).reshape(3, 2))
assert (x @ w).shape == (2, 2) and np.allclose((x @ w).data, x.data @ w.data)
assert (Tensor(np.ones((4, 2, 3))) @ w).shape == (4, 2, 2)      # batched
assert (np.ones((1, 2)) @ x).shape == (1, 3)                       # reflected
try:
    x @ x
except ValueError as e:
    assert "(2, 3) @ (2, 3)" in str(e)

# %% [markdown]
# ## Elementwise math
#
# `exp log sqrt tanh sigmoid abs maximum minimum clip`. Two details matter for numerical health:
#
# * `sigmoid` is computed in a **stable** form. The textbook `1 / (1 + exp(-x))` overflows `exp` for
#   `x = -1000`. Using `e = exp(-|x|)` (always in `(0, 1]`) and picking `1/(1+e)` or `e/(1+e)` by sign
#   never overflows. PyTorch's kernel does the same.
# * `maximum`/`minimum` take a Tensor or a scalar and broadcast; `clip(lo, hi)` accepts `None` for an
#   open side. Together with `where` these give ReLU, clipping of probabilities in losses, etc.

# %%
#| export
def _unary(name: str, fn: Callable[[np.ndarray], np.ndarray], doc: str) -> Callable[[Tensor], Tensor]:
    def method(self: Tensor) -> Tensor:
        ### BEGIN SOLUTION
        return Tensor(np.asarray(fn(self.data)))
        ### END SOLUTION
    method.__name__ = name
    method.__doc__ = doc
    return method


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    ### BEGIN SOLUTION
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.result_type(x, np.float32), copy=False)
    ### END SOLUTION


Tensor.exp = _unary("exp", np.exp, "Elementwise e**x.")
Tensor.log = _unary("log", np.log, "Elementwise natural logarithm.")
Tensor.sqrt = _unary("sqrt", np.sqrt, "Elementwise square root.")
Tensor.tanh = _unary("tanh", np.tanh, "Elementwise hyperbolic tangent.")
Tensor.sigmoid = _unary("sigmoid", _stable_sigmoid, "Elementwise logistic sigmoid (numerically stable).")
Tensor.abs = _unary("abs", np.abs, "Elementwise absolute value.")
Tensor.__abs__ = lambda self: self.abs()


def _maximum(self: Tensor, other: Any) -> Tensor:
    """Elementwise maximum with a Tensor or scalar (broadcasting)."""
    ### BEGIN SOLUTION
    o = Tensor._lift(other, self)
    try:
        return Tensor(np.maximum(self.data, o.data))
    except ValueError as err:
        raise _broadcast_error("maximum", self, o, err) from None
    ### END SOLUTION


def _minimum(self: Tensor, other: Any) -> Tensor:
    """Elementwise minimum with a Tensor or scalar (broadcasting)."""
    ### BEGIN SOLUTION
    o = Tensor._lift(other, self)
    try:
        return Tensor(np.minimum(self.data, o.data))
    except ValueError as err:
        raise _broadcast_error("minimum", self, o, err) from None
    ### END SOLUTION


def _clip(self: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Clamp values into [lo, hi]; either bound may be None."""
    ### BEGIN SOLUTION
    if lo is None and hi is None:
        raise ValueError("clip needs at least one of lo and hi")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip bounds out of order: lo={lo} > hi={hi}")
    out = self.data
    if lo is not None:
        out = np.maximum(out, np.asarray(lo, dtype=np.result_type(self.data, lo)))
    if hi is not None:
        out = np.minimum(out, np.asarray(hi, dtype=np.result_type(self.data, hi)))
    return Tensor(np.array(out))
    ### END SOLUTION


Tensor.maximum = _maximum
Tensor.minimum = _minimum
Tensor.clip = _clip

# %%
z = Tensor([-1000.0, -1.0, 0.0, 1.0, 1000.0])
s = z.sigmoid()
assert s.dtype == np.float32 and s.data[0] == 0.0 and s.data[2] == 0.5 and s.data[-1] == 1.0
assert np.allclose(z.clip(-1, 1).data, [-1, -1, 0, 1, 1]) and np.allclose(z.maximum(0.0).data, [0, 0, 0, 1, 1000])
assert np.allclose(Tensor([1.0, 4.0]).sqrt().data, [1, 2]) and z.abs().data[0] == 1000.0

# %% [markdown]
# ## Reductions
#
# `sum mean max min var`, each with `axis` (int, tuple or None for all) and `keepdims`. `var` is the
# population variance (divide by N), which is what batch and layer normalization use. A reduction
# reads every element once, so it is memory-bound: summing a 4 MiB float32 tensor costs about as much
# time as copying it. `keepdims=True` keeps reduced axes with size 1, so the result broadcasts back
# against the input (e.g. `x - x.max(axis=-1, keepdims=True)` in a stable softmax).

# %%
#| export
def _reduction(name: str, fn: Callable[..., Any], doc: str) -> Callable[..., Tensor]:
    def method(self: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        ### BEGIN SOLUTION
        try:
            return Tensor(np.asarray(fn(self.data, axis=axis, keepdims=keepdims)))
        except np.exceptions.AxisError as err:
            raise ValueError(f"{name}: axis {axis} is out of range for shape {self.shape}") from err
        ### END SOLUTION
    method.__name__ = name
    method.__doc__ = doc
    return method


Tensor.sum = _reduction("sum", np.sum, "Sum over `axis` (all elements if None).")
Tensor.mean = _reduction("mean", np.mean, "Arithmetic mean over `axis`.")
Tensor.max = _reduction("max", np.max, "Maximum over `axis`.")
Tensor.min = _reduction("min", np.min, "Minimum over `axis`.")
Tensor.var = _reduction("var", np.var, "Population variance (divide by N) over `axis`.")


def _argmax(self: Tensor, axis: int | None = None) -> Tensor:
    """Indices of the maxima (an integer tensor; not differentiable)."""
    ### BEGIN SOLUTION
    return Tensor(np.asarray(np.argmax(self.data, axis=axis)))
    ### END SOLUTION


Tensor.argmax = _argmax

# %%
assert x.sum().item() == 21.0 and x.sum(axis=0).shape == (3,) and x.mean(axis=1, keepdims=True).shape == (2, 1)
assert x.max().item() == 6.0 and np.allclose(x.min(axis=1).data, [1, 4])
assert np.allclose(x.var(axis=1).data, np.var(x.data, axis=1)) and x.argmax(axis=1).data.tolist() == [2, 2]

# %% [markdown]
# ## Shape operations: reshape, transpose, indexing, pad
#
# `reshape` and `transpose` are usually **free**: numpy returns a view with new strides and copies
# nothing (a reshape of a non-contiguous array may copy). Indexing with slices is a view too; indexing
# with integer arrays ("fancy" indexing: `emb[token_ids]`, `x[rows, labels]`) gathers a copy. `pad`
# surrounds the tensor with a constant (zero padding for convolutions). These four ops are enough to
# build im2col convolution, pooling, multi-head attention's head split and embedding lookups.

# %%
#| export
def _shape_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    ### BEGIN SOLUTION
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(int(s) for s in shape[0])
    return tuple(int(s) for s in shape)
    ### END SOLUTION


def _reshape(self: Tensor, *shape: Any) -> Tensor:
    """Same data, new shape (ints or one tuple; -1 infers a dimension)."""
    ### BEGIN SOLUTION
    new = _shape_args(shape)
    try:
        return Tensor(self.data.reshape(new))
    except ValueError:
        raise ValueError(f"cannot reshape tensor of shape {self.shape} (size {self.size}) into {new}") from None
    ### END SOLUTION


def _transpose(self: Tensor, *axes: Any) -> Tensor:
    """Permute axes (ints or one tuple); no arguments reverses all axes."""
    ### BEGIN SOLUTION
    perm = _shape_args(axes) if axes else None
    if perm is not None and sorted(a % max(self.ndim, 1) for a in perm) != list(range(self.ndim)):
        raise ValueError(f"transpose axes {perm} are not a permutation of the {self.ndim} axes of shape {self.shape}")
    return Tensor(np.transpose(self.data, perm))
    ### END SOLUTION


def _index(index: Any) -> Any:
    """Unwrap Tensors inside an index."""
    ### BEGIN SOLUTION
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index
    ### END SOLUTION


def _getitem(self: Tensor, index: Any) -> Tensor:
    """Basic (slices, ints, None, ...) and integer-array/boolean indexing, like numpy."""
    ### BEGIN SOLUTION
    return Tensor(np.asarray(self.data[_index(index)]))
    ### END SOLUTION


def _pad_width(pad_width: Any, ndim: int) -> np.ndarray:
    ### BEGIN SOLUTION
    try:
        return np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    except ValueError:
        raise ValueError(f"pad_width {pad_width!r} does not fit a tensor with {ndim} dimensions") from None
    ### END SOLUTION


def _pad(self: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Constant padding, with np.pad's pad_width formats."""
    ### BEGIN SOLUTION
    widths = _pad_width(pad_width, self.ndim)
    if (widths < 0).any():
        raise ValueError(f"pad widths must be non-negative, got {pad_width!r}")
    return Tensor(np.pad(self.data, widths, mode="constant", constant_values=value))
    ### END SOLUTION


Tensor.reshape = _reshape
Tensor.transpose = _transpose
Tensor.__getitem__ = _getitem
Tensor.pad = _pad
Tensor.T = property(lambda self: self.transpose(), doc="The tensor with all axes reversed.")

# %%
assert x.reshape(3, 2).shape == (3, 2) and x.reshape((6,)).shape == (6,) and x.reshape(-1, 1).shape == (6, 1)
assert x.T.shape == (3, 2) and Tensor(np.zeros((2, 3, 4))).transpose(1, 0, 2).shape == (3, 2, 4)
assert x[1].data.tolist() == [4, 5, 6] and x[:, 1:].shape == (2, 2) and x[[0, 1], [2, 0]].data.tolist() == [3, 4]
assert x.pad(1).shape == (4, 5) and x.pad(((0, 0), (2, 0)), value=-1.0).data[0, :3].tolist() == [-1, -1, 1]

# %% [markdown]
# ## Joining tensors and selecting: concatenate, stack, where
#
# These take several tensors, so they are **static methods** (`Tensor.concatenate(...)`), with
# module-level wrappers `concatenate`, `stack`, `where` that look the static method up at call time.
# That indirection is deliberate: autograd replaces `Tensor.concatenate` and the wrappers pick up the
# differentiable version automatically. `where(cond, a, b)` picks `a` where `cond` is true; it is how
# masks (causal attention, ReLU) are applied. Joining always copies: `concatenate` of n tensors moves
# every byte once, so building a big tensor by concatenating in a loop is quadratic. Collect, then
# concatenate once.

# %%
#| export
def _join_inputs(name: str, tensors: Sequence[Any]) -> list[Tensor]:
    ### BEGIN SOLUTION
    if isinstance(tensors, Tensor) or len(tensors) == 0:
        raise ValueError(f"{name} needs a non-empty sequence of tensors")
    like = next((t for t in tensors if isinstance(t, Tensor)), None)
    return [Tensor._lift(t, like) for t in tensors]
    ### END SOLUTION


def _concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis."""
    ### BEGIN SOLUTION
    ts = _join_inputs("concatenate", tensors)
    try:
        return Tensor(np.concatenate([t.data for t in ts], axis=axis))
    except (ValueError, np.exceptions.AxisError) as err:
        raise ValueError(f"concatenate: incompatible shapes {[t.shape for t in ts]} on axis {axis} ({err})") from None
    ### END SOLUTION


def _stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis."""
    ### BEGIN SOLUTION
    ts = _join_inputs("stack", tensors)
    try:
        return Tensor(np.stack([t.data for t in ts], axis=axis))
    except (ValueError, np.exceptions.AxisError) as err:
        raise ValueError(f"stack: incompatible shapes {[t.shape for t in ts]} on axis {axis} ({err})") from None
    ### END SOLUTION


def _where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if cond else b` with broadcasting; `cond` is a bool Tensor/ndarray."""
    ### BEGIN SOLUTION
    c = np.asarray(cond.data if isinstance(cond, Tensor) else cond, dtype=bool)
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    ta, tb = Tensor._lift(a, like), Tensor._lift(b, like)
    try:
        return Tensor(np.where(c, ta.data, tb.data))
    except ValueError as err:
        raise ValueError(f"where: cannot broadcast shapes {c.shape}, {ta.shape} and {tb.shape} ({err})") from None
    ### END SOLUTION


Tensor.concatenate = staticmethod(_concatenate)
Tensor.stack = staticmethod(_stack)
Tensor.where = staticmethod(_where)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (calls `Tensor.concatenate`)."""
    ### BEGIN SOLUTION
    return Tensor.concatenate(tensors, axis=axis)
    ### END SOLUTION


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shape tensors along a new axis (calls `Tensor.stack`)."""
    ### BEGIN SOLUTION
    return Tensor.stack(tensors, axis=axis)
    ### END SOLUTION


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise select: `a` where `cond` is true, else `b` (calls `Tensor.where`)."""
    ### BEGIN SOLUTION
    return Tensor.where(cond, a, b)
    ### END SOLUTION

# %%
assert concatenate([x, x], axis=1).shape == (2, 6) and stack([x, x]).shape == (2, 2, 3)
r = where(x > 3.0, x, 0.0)
assert r.dtype == np.float32 and r.data.tolist() == [[0, 0, 0], [4, 5, 6]]

# %% [markdown]
# ## Creation functions
#
# `zeros`, `ones`, `randn`, `arange`, `tensor` mirror their PyTorch namesakes. Shapes may be given as
# separate ints or one tuple. `randn` never touches numpy's global random state: it takes a
# `np.random.Generator` (default `np.random.default_rng(0)`), so every run of the course is
# reproducible. Floating results are float32 unless a dtype is given.

# %%
#| export
def zeros(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros with the given shape."""
    ### BEGIN SOLUTION
    return Tensor(np.zeros(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)
    ### END SOLUTION


def ones(*shape: Any, dtype: Any = np.float32, requires_grad: bool = False) -> Tensor:
    """A tensor of ones with the given shape."""
    ### BEGIN SOLUTION
    return Tensor(np.ones(_shape_args(shape), dtype=dtype), requires_grad=requires_grad)
    ### END SOLUTION


def randn(*shape: Any, rng: np.random.Generator | None = None, requires_grad: bool = False) -> Tensor:
    """Standard-normal float32 samples drawn from `rng` (default `default_rng(0)`)."""
    ### BEGIN SOLUTION
    rng = np.random.default_rng(0) if rng is None else rng
    return Tensor(rng.standard_normal(_shape_args(shape)).astype(np.float32), requires_grad=requires_grad)
    ### END SOLUTION


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values like np.arange (float results are float32 unless `dtype` is given)."""
    ### BEGIN SOLUTION
    arr = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return Tensor(arr, requires_grad=requires_grad)
    ### END SOLUTION


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Same as `Tensor(data, requires_grad, dtype)`."""
    ### BEGIN SOLUTION
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)
    ### END SOLUTION

# %%
assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).dtype == np.float32 and ones(4).data.sum() == 4
assert np.array_equal(randn(3, 2).data, randn(3, 2).data) and randn(5, requires_grad=True).requires_grad
assert arange(5).data.tolist() == [0, 1, 2, 3, 4] and arange(0.0, 1.0, 0.25).dtype == np.float32
assert tensor([1.0]).dtype == np.float32
