"""Unit tests for tinytorch.core.tensor (forward behaviour only; autograd is NOT imported here)."""

import operator
import os
import subprocess
import sys

import numpy as np
import pytest

import tinytorch.core.tensor as tensor_module
from tinytorch.core.tensor import Tensor, arange, concatenate, ones, randn, stack, tensor, where, zeros


def _arr(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- creation and dtype rules
@pytest.mark.parametrize(
    "data,dtype",
    [
        ([1.0, 2.0], np.float32),
        (2.5, np.float32),
        ([[1, 2], [3, 4]], np.int64),
        (3, np.int64),
        ([True, False], np.bool_),
        ([1, 2.5], np.float32),
        ([], np.float32),
        (np.zeros(3), np.float64),
        (np.zeros(3, dtype=np.float16), np.float16),
        (np.arange(3, dtype=np.int32), np.int32),
        (np.float64(1.5), np.float64),
    ],
)
def test_dtype_rules(data, dtype):
    assert Tensor(data).dtype == dtype


def test_explicit_dtype_and_from_tensor():
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert Tensor(np.zeros(2), dtype=np.float32).dtype == np.float32
    t = Tensor([1.0, 2.0])
    assert np.shares_memory(Tensor(t).data, t.data)


def test_ndarray_is_shared_not_copied():
    a = np.zeros(3)
    t = Tensor(a)
    a[0] = 5.0
    assert t.data[0] == 5.0 and t.numpy() is a


def test_object_data_rejected():
    with pytest.raises(TypeError, match="object dtype"):
        Tensor([object()])


def test_attributes_and_slots():
    t = Tensor(np.ones((2, 3)), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.requires_grad is True and t.grad is None
    assert t._prev == () and t._backward is None and t._op == ""
    assert Tensor.__array_priority__ == 100
    assert Tensor([1.0]).requires_grad is False


def test_item_len_repr_and_conversions():
    assert Tensor([[3.5]]).item() == 3.5 and float(Tensor(2.0)) == 2.0
    with pytest.raises(ValueError, match="exactly one element"):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="0-d"):
        len(Tensor(1.0))
    r = repr(Tensor([1.0, 2.0], requires_grad=True))
    assert r.startswith("Tensor(") and "shape=(2,)" in r and "float32" in r and "requires_grad=True" in r
    assert "requires_grad" not in repr(Tensor([1.0]))

    class Sub(Tensor):
        pass

    assert repr(Sub([1.0])).startswith("Sub(")                   # subclasses (Parameter) show their name
    t = Tensor([1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(t), [1.0, 2.0])
    assert np.asarray(t) is t.data and not np.shares_memory(np.array(t, copy=True), t.data)
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert bool(Tensor(1.0)) and not bool(Tensor(0.0))


def test_detach_astype_zero_grad():
    t = Tensor([1.0, 2.0], requires_grad=True)
    d = t.detach()
    assert not d.requires_grad and np.shares_memory(d.data, t.data) and d is not t
    c = t.astype(np.float64)
    assert c.dtype == np.float64 and t.dtype == np.float32
    t.grad = Tensor([1.0, 1.0])
    t.zero_grad()
    assert t.grad is None


_WITHOUT_AUTOGRAD = """
import importlib.util, pathlib, sys
# load the tensor module by path: importing `tinytorch.core.tensor` would run the package's
# __init__, which imports every module, autograd included
path = next(pathlib.Path(p, "tinytorch", "core", "tensor.py") for p in sys.path
            if pathlib.Path(p, "tinytorch", "core", "tensor.py").is_file())
spec = importlib.util.spec_from_file_location("isolated_tensor", path)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
Tensor = mod.Tensor
t = Tensor([1.0], requires_grad=True)
r = t * 2
assert not r.requires_grad and r._prev == () and r._backward is None
try:
    r.backward()
except RuntimeError as e:
    assert "import tinytorch.core.autograd" in str(e), e
else:
    raise AssertionError("backward() should raise before autograd is imported")
"""


def test_backward_placeholder_before_autograd_is_imported():
    # A fresh interpreter: in a shared pytest process another test file may already have imported autograd.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-W", "error", "-c", _WITHOUT_AUTOGRAD], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_creation_functions():
    assert zeros(2, 3).shape == (2, 3) and zeros((2, 3)).data.sum() == 0 and zeros(2).dtype == np.float32
    assert ones(2, dtype=np.int64).dtype == np.int64 and ones([3]).data.tolist() == [1, 1, 1]
    assert zeros(0, 4).shape == (0, 4) and zeros(3, requires_grad=True).requires_grad
    r = randn(4, 5)
    assert r.shape == (4, 5) and r.dtype == np.float32
    np.testing.assert_array_equal(r.data, randn(4, 5).data)                     # default seed 0
    assert not np.array_equal(randn(4, 5, rng=np.random.default_rng(1)).data, r.data)
    assert randn((2, 2), requires_grad=True).requires_grad
    assert arange(4).data.tolist() == [0, 1, 2, 3] and arange(4).dtype.kind == "i"
    assert arange(1, 7, 2).data.tolist() == [1, 3, 5]
    assert arange(0.0, 1.0, 0.5).dtype == np.float32 and arange(3, dtype=np.float64).dtype == np.float64
    t = tensor([1.0, 2.0], requires_grad=True)
    assert isinstance(t, Tensor) and t.requires_grad and tensor([1], dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------- arithmetic
BINARY = [operator.add, operator.sub, operator.mul, operator.truediv]


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 1), (3, 4)), ((1,), (2, 2)), ((), (3,))])
def test_binary_broadcasting_matches_numpy(op, sa, sb):
    a, b = _arr(*sa), np.abs(_arr(*sb, seed=1)) + 0.5
    out = op(Tensor(a), Tensor(b))
    np.testing.assert_allclose(out.data, op(a, b), rtol=1e-6)
    assert out.shape == np.broadcast_shapes(sa, sb) and out.dtype == np.float32


@pytest.mark.parametrize("op", BINARY)
def test_scalar_and_ndarray_operands_both_sides(op):
    a = np.abs(_arr(2, 3)) + 0.5
    t = Tensor(a)
    np.testing.assert_allclose(op(t, 2.0).data, op(a, np.float32(2.0)), rtol=1e-6)
    np.testing.assert_allclose(op(2.0, t).data, op(np.float32(2.0), a), rtol=1e-6)
    assert op(t, 2.0).dtype == np.float32 and op(2, t).dtype == np.float32   # Python scalars do not upcast
    nd = np.full((2, 3), 3.0, dtype=np.float32)
    left, right = op(nd, t), op(t, nd)
    assert isinstance(left, Tensor) and isinstance(right, Tensor)
    np.testing.assert_allclose(left.data, op(nd, a), rtol=1e-6)
    np.testing.assert_allclose(right.data, op(a, nd), rtol=1e-6)


def test_dtype_promotion_follows_numpy():
    f32, f64 = Tensor(np.ones(2, dtype=np.float32)), Tensor(np.ones(2))
    assert (f32 + f64).dtype == np.float64 and (f64 * 2.0).dtype == np.float64
    i = Tensor([1, 2])
    assert (i + 1).dtype.kind == "i" and (i / 2).dtype == np.float64 and (i * 0.5).dtype == np.float64
    assert (np.float32(2.0) * f32).dtype == np.float32


def test_neg_pow():
    a = _arr(3, 2)
    t = Tensor(a)
    np.testing.assert_array_equal((-t).data, -a)
    np.testing.assert_allclose((t ** 2).data, a ** 2)
    np.testing.assert_allclose((Tensor(np.abs(a)) ** 0.5).data, np.sqrt(np.abs(a)), rtol=1e-6)
    assert (t ** 3).dtype == np.float32
    with pytest.raises(TypeError, match="scalar exponents"):
        t ** Tensor([2.0])


def test_broadcast_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4,\)"):
        Tensor(np.ones((2, 3))) + Tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"maximum.*\(2, 3\) and \(2,\)"):
        Tensor(np.ones((2, 3))).maximum(Tensor(np.ones(2)))


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge])
def test_comparisons_return_bool_tensors(op):
    a, b = _arr(3, 4), _arr(4, seed=1)
    out = op(Tensor(a), Tensor(b))
    assert out.dtype == np.bool_ and not out.requires_grad
    np.testing.assert_array_equal(out.data, op(a, b))
    np.testing.assert_array_equal(op(Tensor(a), 0.0).data, op(a, 0.0))
    np.testing.assert_array_equal(op(b, Tensor(a)).data, op(b, a))   # reflected through numpy


def test_tensors_stay_hashable():
    t = Tensor([1.0])
    assert t in {t} and {id(t): t}[id(t)] is t


# ---------------------------------------------------------------- matmul
@pytest.mark.parametrize(
    "sa,sb",
    [((3, 4), (4, 5)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,)),
     ((1, 3, 4), (2, 4, 2)), ((0, 4), (4, 3))],
)
def test_matmul_matches_numpy(sa, sb):
    a, b = _arr(*sa), _arr(*sb, seed=1)
    out = Tensor(a) @ Tensor(b)
    np.testing.assert_allclose(out.data, a @ b, rtol=1e-5, atol=1e-6)
    assert out.shape == np.matmul(a, b).shape and out.dtype == np.float32


def test_matmul_with_ndarray_both_sides():
    a, b = _arr(2, 3), _arr(3, 2, seed=1)
    np.testing.assert_allclose((Tensor(a) @ b).data, a @ b, rtol=1e-6)
    left = a @ Tensor(b)
    assert isinstance(left, Tensor)
    np.testing.assert_allclose(left.data, a @ b, rtol=1e-6)


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"matmul shape mismatch: \(2, 3\) @ \(4, 5\)"):
        Tensor(np.ones((2, 3))) @ Tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(2, 3, 4\) @ \(3, 4, 5\)"):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5)))     # batch dims do not broadcast
    with pytest.raises(ValueError, match="at least 1 dimension"):
        Tensor(2.0) @ Tensor(np.ones(3))


# ---------------------------------------------------------------- elementwise math
@pytest.mark.parametrize(
    "name,ref,positive",
    [("exp", np.exp, False), ("log", np.log, True), ("sqrt", np.sqrt, True), ("tanh", np.tanh, False),
     ("abs", np.abs, False), ("sigmoid", lambda v: 1 / (1 + np.exp(-v)), False)],
)
def test_elementwise_matches_numpy(name, ref, positive):
    a = _arr(3, 4)
    a = np.abs(a) + 0.1 if positive else a
    out = getattr(Tensor(a), name)()
    np.testing.assert_allclose(out.data, ref(a.astype(np.float64)), rtol=1e-5)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    assert getattr(Tensor(a.astype(np.float64)), name)().dtype == np.float64


def test_sigmoid_is_stable_at_extremes():
    out = Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4])).sigmoid()    # filterwarnings=error: no overflow
    assert out.data[0] == 0.0 and out.data[2] == 0.5 and out.data[-1] == 1.0
    assert np.all(np.diff(out.data) >= 0)


def test_maximum_minimum_clip():
    a, b = _arr(3, 4), _arr(4, seed=1)
    np.testing.assert_array_equal(Tensor(a).maximum(Tensor(b)).data, np.maximum(a, b))
    np.testing.assert_array_equal(Tensor(a).minimum(0.0).data, np.minimum(a, 0.0))
    assert Tensor(a).maximum(0.0).dtype == np.float32
    np.testing.assert_array_equal(Tensor(a).clip(-0.5, 0.5).data, np.clip(a, -0.5, 0.5))
    np.testing.assert_array_equal(Tensor(a).clip(None, 0.5).data, np.minimum(a, 0.5))
    np.testing.assert_array_equal(Tensor(a).clip(0.1).data, np.maximum(a, 0.1))
    assert Tensor(a).clip(-1, 1).dtype == np.float32
    with pytest.raises(ValueError, match="lo=1.*hi=0"):
        Tensor(a).clip(1.0, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        Tensor(a).clip()


def test_abs_builtin():
    np.testing.assert_array_equal(abs(Tensor([-1.0, 2.0])).data, [1.0, 2.0])


# ---------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, axis, keepdims):
    a = _arr(2, 3, 4)
    out = getattr(Tensor(a), name)(axis=axis, keepdims=keepdims)
    ref = getattr(np, name)(a, axis=axis, keepdims=keepdims)
    assert isinstance(out, Tensor) and out.shape == np.shape(ref)
    np.testing.assert_allclose(out.data, ref, rtol=1e-5, atol=1e-6)


def test_var_is_population_variance():
    t = Tensor([1.0, 2.0, 3.0, 4.0])
    assert t.var().item() == pytest.approx(1.25)


def test_reduction_positional_axis_and_bad_axis():
    t = Tensor(np.ones((2, 3)))
    assert t.sum(0).shape == (3,) and t.mean(1, True).shape == (2, 1)
    with pytest.raises(ValueError, match=r"axis 2 is out of range for shape \(2, 3\)"):
        t.sum(axis=2)


def test_empty_batch_reductions():
    t = Tensor(np.zeros((0, 3), dtype=np.float32))
    assert t.sum(axis=0).data.tolist() == [0.0, 0.0, 0.0] and t.sum(axis=1).shape == (0,)
    assert t.max(axis=1).shape == (0,)


def test_argmax():
    a = _arr(3, 5)
    np.testing.assert_array_equal(Tensor(a).argmax(axis=1).data, a.argmax(axis=1))
    assert Tensor(a).argmax().item() == a.argmax()


# ---------------------------------------------------------------- shape ops
def test_reshape_forms_and_error():
    t = Tensor(np.arange(12.0))
    assert t.reshape(3, 4).shape == (3, 4) and t.reshape((2, 6)).shape == (2, 6) and t.reshape([4, -1]).shape == (4, 3)
    assert np.shares_memory(t.reshape(3, 4).data, t.data)      # a view: free
    with pytest.raises(ValueError, match=r"shape \(12,\).*\(5, 2\)"):
        t.reshape(5, 2)


def test_transpose_and_T():
    a = _arr(2, 3, 4)
    t = Tensor(a)
    np.testing.assert_array_equal(t.transpose().data, a.transpose())
    np.testing.assert_array_equal(t.transpose(1, 0, 2).data, a.transpose(1, 0, 2))
    np.testing.assert_array_equal(t.transpose((2, 0, 1)).data, a.transpose(2, 0, 1))
    np.testing.assert_array_equal(t.transpose(-1, 0, 1).data, a.transpose(2, 0, 1))
    assert Tensor(np.ones((2, 5))).T.shape == (5, 2)
    with pytest.raises(ValueError, match="not a permutation"):
        t.transpose(0, 0, 1)


@pytest.mark.parametrize(
    "index",
    [1, -1, slice(1, 3), (slice(None), 2), (Ellipsis, 1), (None, 0), [0, 2, 2], (np.array([0, 1]), np.array([3, 0])),
     np.array([True, False, True]), (slice(None, None, -1), slice(0, 4, 2))],
    ids=["int", "negint", "slice", "col", "ellipsis", "newaxis", "fancy_list", "fancy_pairs", "bool", "step"],
)
def test_getitem_matches_numpy(index):
    a = _arr(3, 4)
    out = Tensor(a)[index]
    np.testing.assert_array_equal(out.data, a[index])
    assert isinstance(out, Tensor)


def test_getitem_with_tensor_indices():
    a = _arr(5, 3)
    idx = Tensor(np.array([[4, 0], [1, 1]]))
    np.testing.assert_array_equal(Tensor(a)[idx].data, a[idx.data])
    np.testing.assert_array_equal(Tensor(a)[idx, Tensor([0, 2])].data, a[idx.data, np.array([0, 2])])
    assert Tensor(a)[0, 1].shape == ()


def test_no_item_assignment():
    with pytest.raises(TypeError):
        Tensor([1.0])[0] = 2.0


@pytest.mark.parametrize("pad_width", [1, (1, 2), ((0, 0), (2, 1)), [[1, 0], [0, 3]]])
def test_pad_matches_numpy(pad_width):
    a = _arr(2, 3)
    out = Tensor(a).pad(pad_width, value=-1.5)
    np.testing.assert_array_equal(out.data, np.pad(a, pad_width, constant_values=-1.5))
    assert out.dtype == np.float32


def test_pad_errors():
    with pytest.raises(ValueError, match="does not fit"):
        Tensor(np.ones((2, 3))).pad(((1, 1), (1, 1), (1, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        Tensor(np.ones(3)).pad(-1)


# ---------------------------------------------------------------- concatenate / stack / where
def test_concatenate_and_stack():
    a, b = _arr(2, 3), _arr(1, 3, seed=1)
    np.testing.assert_array_equal(Tensor.concatenate([Tensor(a), Tensor(b)]).data, np.concatenate([a, b]))
    np.testing.assert_array_equal(concatenate([Tensor(a), a], axis=1).data, np.concatenate([a, a], axis=1))
    np.testing.assert_array_equal(Tensor.stack([Tensor(a), Tensor(a)], axis=1).data, np.stack([a, a], axis=1))
    np.testing.assert_array_equal(stack((Tensor(b), Tensor(b)), axis=-1).data, np.stack([b, b], axis=-1))
    assert concatenate([Tensor(a)]).shape == (2, 3)


def test_join_errors():
    with pytest.raises(ValueError, match="non-empty"):
        concatenate([])
    with pytest.raises(ValueError, match=r"concatenate: incompatible shapes \[\(2, 3\), \(2, 2\)\]"):
        concatenate([Tensor(np.ones((2, 3))), Tensor(np.ones((2, 2)))])
    with pytest.raises(ValueError, match=r"stack: incompatible shapes"):
        stack([Tensor(np.ones(2)), Tensor(np.ones(3))])


def test_where_forms():
    a, b = _arr(3, 4), _arr(4, seed=1)
    cond = a > 0
    np.testing.assert_array_equal(where(Tensor(cond), Tensor(a), Tensor(b)).data, np.where(cond, a, b))
    np.testing.assert_array_equal(Tensor.where(cond, Tensor(a), 0.0).data, np.where(cond, a, 0.0))
    np.testing.assert_array_equal(where(cond, 1.0, Tensor(a)).data, np.where(cond, 1.0, a))
    assert where(cond, Tensor(a), 0.0).dtype == np.float32
    with pytest.raises(ValueError, match="where: cannot broadcast"):
        where(np.ones(3, dtype=bool), Tensor(np.ones(4)), 0.0)


def test_module_wrappers_call_static_methods(monkeypatch):
    calls = []
    monkeypatch.setattr(Tensor, "stack", staticmethod(lambda ts, axis=0: calls.append(axis) or "patched"))
    assert stack([Tensor([1.0])], axis=0) == "patched" and calls == [0]


### BEGIN HIDDEN TESTS
def test_public_names():
    assert set(tensor_module.__all__) == {"Tensor", "zeros", "ones", "randn", "arange", "tensor", "concatenate",
                                          "stack", "where"}
### END HIDDEN TESTS
