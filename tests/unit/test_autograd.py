"""Unit tests for tinytorch.core.autograd: every differentiable op is checked against central differences."""

import numpy as np
import pytest

import tinytorch.core.autograd as autograd
from tinytorch.core.autograd import check_gradients, enable_autograd, is_grad_enabled, no_grad, numerical_gradient
from tinytorch.core.tensor import Tensor, concatenate, stack, where


def _rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, size=shape)


def _pos(*shape, seed=0):
    return _rand(*shape, seed=seed, low=0.5, high=2.0)


def _distinct(*shape, seed=0):
    """Values with no ties (max/min/maximum gradients are only defined away from ties)."""
    n = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(n).reshape(shape) * 0.37 - 1.1


# (name, function of Tensors, list of float64 input arrays)
OPS = [
    ("add", lambda a, b: a + b, [_rand(3, 4), _rand(3, 4, seed=1)]),
    ("add_broadcast_row", lambda a, b: a + b, [_rand(3, 4), _rand(4, seed=1)]),
    ("add_broadcast_col", lambda a, b: a + b, [_rand(2, 3, 4), _rand(3, 1, seed=1)]),
    ("add_scalar", lambda a: a + 2.5, [_rand(3)]),
    ("radd", lambda a: 2.5 + a, [_rand(3)]),
    ("radd_ndarray", lambda a: np.ones((2, 3)) + a, [_rand(3)]),
    ("sub", lambda a, b: a - b, [_rand(3, 4), _rand(1, 4, seed=1)]),
    ("rsub", lambda a: 1.0 - a, [_rand(2, 3)]),
    ("mul", lambda a, b: a * b, [_rand(3, 4), _rand(3, 4, seed=1)]),
    ("mul_broadcast", lambda a, b: a * b, [_rand(2, 3, 4), _rand(4, seed=1)]),
    ("rmul", lambda a: 3.0 * a, [_rand(5)]),
    ("self_mul", lambda a: a * a, [_rand(4)]),
    ("div", lambda a, b: a / b, [_rand(3, 4), _pos(3, 4, seed=1)]),
    ("div_broadcast", lambda a, b: a / b, [_rand(3, 4), _pos(3, 1, seed=1)]),
    ("rdiv", lambda a: 2.0 / a, [_pos(3)]),
    ("neg", lambda a: -a, [_rand(3, 2)]),
    ("pow2", lambda a: a ** 2, [_rand(3, 2)]),
    ("pow3", lambda a: a ** 3, [_rand(4)]),
    ("pow_half", lambda a: a ** 0.5, [_pos(4)]),
    ("pow_neg", lambda a: a ** -1.5, [_pos(4)]),
    ("pow0", lambda a: a ** 0, [_rand(3)]),
    ("matmul_2d", lambda a, b: a @ b, [_rand(3, 4), _rand(4, 2, seed=1)]),
    ("matmul_batched", lambda a, b: a @ b, [_rand(2, 3, 4), _rand(2, 4, 5, seed=1)]),
    ("matmul_broadcast_batch", lambda a, b: a @ b, [_rand(2, 3, 4), _rand(4, 5, seed=1)]),
    ("matmul_broadcast_batch_left", lambda a, b: a @ b, [_rand(3, 4), _rand(2, 4, 5, seed=1)]),
    ("matmul_batch_one", lambda a, b: a @ b, [_rand(1, 3, 4), _rand(2, 4, 2, seed=1)]),
    ("matmul_vec_right", lambda a, b: a @ b, [_rand(3, 4), _rand(4, seed=1)]),
    ("matmul_vec_left", lambda a, b: a @ b, [_rand(4), _rand(4, 3, seed=1)]),
    ("matmul_vec_vec", lambda a, b: a @ b, [_rand(4), _rand(4, seed=1)]),
    ("matmul_vec_batched", lambda a, b: a @ b, [_rand(4), _rand(2, 4, 3, seed=1)]),
    ("rmatmul", lambda a: np.ones((2, 3)) @ a, [_rand(3, 4)]),
    ("exp", lambda a: a.exp(), [_rand(3, 4)]),
    ("log", lambda a: a.log(), [_pos(3, 4)]),
    ("sqrt", lambda a: a.sqrt(), [_pos(3, 4)]),
    ("tanh", lambda a: a.tanh(), [_rand(3, 4)]),
    ("sigmoid", lambda a: a.sigmoid(), [_rand(3, 4) * 3]),
    ("abs", lambda a: a.abs(), [_distinct(3, 4)]),
    ("abs_builtin", lambda a: abs(a), [_distinct(5)]),
    ("maximum", lambda a, b: a.maximum(b), [_distinct(3, 4), _distinct(3, 4, seed=1) + 0.05]),
    ("maximum_broadcast", lambda a, b: a.maximum(b), [_distinct(3, 4), np.array([0.13, -0.71, 0.42, 0.05])]),
    ("maximum_scalar", lambda a: a.maximum(0.05), [_distinct(3, 4)]),
    ("minimum", lambda a, b: a.minimum(b), [_distinct(3, 4), _distinct(3, 4, seed=1) + 0.05]),
    ("minimum_scalar", lambda a: a.minimum(0.05), [_distinct(2, 5)]),
    ("clip", lambda a: a.clip(-0.8, 0.9), [_distinct(3, 4)]),
    ("clip_lo_only", lambda a: a.clip(0.05, None), [_distinct(3, 4)]),
    ("clip_hi_only", lambda a: a.clip(None, 0.05), [_distinct(3, 4)]),
    ("sum_all", lambda a: a.sum(), [_rand(3, 4)]),
    ("sum_axis0", lambda a: a.sum(axis=0), [_rand(3, 4)]),
    ("sum_axis_neg_keepdims", lambda a: a.sum(axis=-1, keepdims=True), [_rand(2, 3, 4)]),
    ("sum_axis_tuple", lambda a: a.sum(axis=(0, 2)), [_rand(2, 3, 4)]),
    ("mean_all", lambda a: a.mean(), [_rand(3, 4)]),
    ("mean_axis1", lambda a: a.mean(axis=1), [_rand(3, 4)]),
    ("mean_axis_tuple_keepdims", lambda a: a.mean(axis=(1, 2), keepdims=True), [_rand(2, 3, 4)]),
    ("max_all", lambda a: a.max(), [_distinct(3, 4)]),
    ("max_axis", lambda a: a.max(axis=1), [_distinct(3, 4)]),
    ("max_axis_keepdims", lambda a: a.max(axis=0, keepdims=True), [_distinct(2, 3, 4)]),
    ("min_all", lambda a: a.min(), [_distinct(3, 4)]),
    ("min_axis", lambda a: a.min(axis=-1), [_distinct(2, 3, 4)]),
    ("var_all", lambda a: a.var(), [_rand(3, 4)]),
    ("var_axis", lambda a: a.var(axis=1), [_rand(3, 4)]),
    ("var_axis_keepdims", lambda a: a.var(axis=-1, keepdims=True), [_rand(2, 3, 4)]),
    ("reshape", lambda a: a.reshape(4, 3), [_rand(3, 4)]),
    ("reshape_tuple_infer", lambda a: a.reshape((2, -1)), [_rand(3, 4)]),
    ("transpose", lambda a: a.transpose(), [_rand(3, 4)]),
    ("transpose_axes", lambda a: a.transpose(1, 2, 0), [_rand(2, 3, 4)]),
    ("transpose_tuple", lambda a: a.transpose((0, 2, 1)), [_rand(2, 3, 4)]),
    ("T", lambda a: a.T, [_rand(2, 3)]),
    ("getitem_int", lambda a: a[1], [_rand(3, 4)]),
    ("getitem_slice", lambda a: a[:, 1:3], [_rand(3, 4)]),
    ("getitem_step_neg", lambda a: a[::-2, None], [_rand(5, 2)]),
    ("getitem_fancy_repeats", lambda a: a[[0, 2, 0, 0]], [_rand(3, 4)]),
    ("getitem_fancy_pairs", lambda a: a[np.arange(3), np.array([1, 3, 1])], [_rand(3, 4)]),
    ("getitem_tensor_index", lambda a: a[Tensor(np.array([[1, 1], [0, 2]]))], [_rand(3, 2)]),
    ("getitem_bool_mask", lambda a: a[np.array([True, False, True])], [_rand(3, 2)]),
    ("getitem_ellipsis", lambda a: a[..., 0], [_rand(2, 3, 2)]),
    ("pad_int", lambda a: a.pad(1), [_rand(2, 3)]),
    ("pad_per_axis", lambda a: a.pad(((0, 0), (0, 0), (1, 2), (2, 0)), value=3.0), [_rand(1, 2, 3, 3)]),
    ("astype", lambda a: a.astype(np.float64) * 2, [_rand(3)]),
    ("concatenate", lambda a, b: Tensor.concatenate([a, b], axis=1), [_rand(2, 3), _rand(2, 1, seed=1)]),
    ("concatenate_wrapper", lambda a, b: concatenate([b, a, b], axis=0), [_rand(2, 3), _rand(1, 3, seed=1)]),
    ("concatenate_neg_axis", lambda a, b: concatenate([a, b], axis=-1), [_rand(2, 2, 3), _rand(2, 2, 2, seed=1)]),
    ("stack", lambda a, b: Tensor.stack([a, b]), [_rand(2, 3), _rand(2, 3, seed=1)]),
    ("stack_wrapper_axis", lambda a, b: stack([a, b, a], axis=-1), [_rand(2, 3), _rand(2, 3, seed=1)]),
    ("where", lambda a, b: Tensor.where(a > b, a, b), [_distinct(3, 4), _distinct(3, 4, seed=1) + 0.05]),
    ("where_wrapper_scalar", lambda a: where(a > 0.0, a, 0.0), [_distinct(3, 4)]),
    ("where_broadcast", lambda a, b: where(np.array([True, False, True]), a, b), [_rand(2, 3), _rand(1, seed=1)]),
    ("composite", lambda a, b: ((a @ b).tanh() * 2.0 - (a.sum(axis=1, keepdims=True) / 3.0)).exp().mean(axis=0),
     [_rand(3, 4) * 0.3, _rand(4, 3, seed=1) * 0.3]),
]


@pytest.mark.parametrize("name,fn,arrays", OPS, ids=[op[0] for op in OPS])
def test_gradient_matches_numerical(name, fn, arrays):
    inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    assert all(t.dtype == np.float64 for t in inputs)
    assert check_gradients(fn, inputs), name
    # gradients come back as float64 Tensors with each operand's own shape
    for t in inputs:
        assert isinstance(t.grad, Tensor) and t.grad.shape == t.shape and t.grad.dtype == np.float64
        assert not t.grad.requires_grad


@pytest.mark.parametrize("name,fn,arrays", OPS, ids=[op[0] for op in OPS])
def test_forward_unchanged_by_autograd(name, fn, arrays):
    """Recording a graph must not change the values an op computes."""
    inputs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    with_graph = fn(*inputs)
    with no_grad():
        plain = fn(*[Tensor(a.copy()) for a in arrays])
    np.testing.assert_array_equal(with_graph.data, plain.data)
    assert with_graph.requires_grad and not plain.requires_grad


def test_check_gradients_detects_a_wrong_rule():
    x = Tensor(_rand(3), requires_grad=True)
    # detach() cuts the graph, so autograd sees no dependence through the second factor
    assert not check_gradients(lambda a: a * a.detach(), [x])


def test_numerical_gradient_values_and_restores_input():
    data = _rand(2, 3)
    x = Tensor(data.copy())
    g = numerical_gradient(lambda t: (t * t).sum(), x)
    np.testing.assert_allclose(g, 2 * data, atol=1e-6)
    np.testing.assert_array_equal(x.data, data)
    # accepts ndarrays and sums non-scalar outputs
    np.testing.assert_allclose(numerical_gradient(lambda t: t * 3.0, data), np.full((2, 3), 3.0), atol=1e-6)


def test_numerical_gradient_non_contiguous_input():
    base = _rand(3, 4)
    x = Tensor(base.T)
    g = numerical_gradient(lambda t: (t ** 2).sum(), x)
    np.testing.assert_allclose(g, 2 * base.T, atol=1e-6)
    assert x.data.base is base or np.shares_memory(x.data, base)


def test_numerical_gradient_rejects_integers():
    with pytest.raises(TypeError, match="floating"):
        numerical_gradient(lambda t: t.sum(), Tensor([1, 2, 3]))


def test_check_gradients_accepts_arrays_and_restores_grad_mode():
    with no_grad():
        assert check_gradients(lambda a: a.tanh(), [_rand(3)])
        assert not is_grad_enabled()
    assert is_grad_enabled()


def test_scalar_backward_seed_and_chain_rule():
    x = Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    y = ((x * 2.0) ** 2).sum()   # d/dx = 8x
    y.backward()
    np.testing.assert_allclose(x.grad.data, 8 * x.data)
    assert y.grad.data == 1.0


def test_backward_nonscalar_needs_grad_argument():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 3.0
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(np.full((2, 2), 2.0))
    np.testing.assert_allclose(x.grad.data, np.full((2, 2), 6.0))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        y.backward(Tensor(np.ones(3)))


def test_backward_on_constant_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (Tensor([1.0]) * 2).backward()


def test_leaf_backward_on_itself():
    x = Tensor(np.array(3.0), requires_grad=True)
    x.backward()
    assert x.grad.item() == 1.0


def test_accumulation_across_backward_calls_and_zero_grad():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = x * 3.0                    # an intermediate shared by two losses
    h.sum().backward()
    (h * h).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3.0 + 2 * 3.0 * h.data)
    x.zero_grad()
    assert x.grad is None


def test_intermediate_grads_are_per_call():
    x = Tensor(np.array([2.0]), requires_grad=True)
    h = x * 5.0
    y = h * h
    y.backward()
    y.backward()
    np.testing.assert_allclose(h.grad.data, [2 * 10.0])       # reset each call, not accumulated
    np.testing.assert_allclose(x.grad.data, [2 * 2 * 10.0 * 5.0])


def test_tensor_used_twice_gets_summed_gradient():
    x = Tensor(np.array([1.5]), requires_grad=True)
    (x + x + x * x).backward()
    np.testing.assert_allclose(x.grad.data, [2.0 + 3.0])


def test_requires_grad_propagation_rules():
    a = Tensor(np.ones(2), requires_grad=True)
    c = Tensor(np.ones(2))
    assert (a + c).requires_grad and (c + a).requires_grad and not (c * c).requires_grad
    assert (a + c)._prev == (a,) and (a + c)._op == "add"
    assert (a > c).requires_grad is False
    assert a.detach().requires_grad is False and a.detach()._prev == ()
    with no_grad():
        r = a * 2
        assert not r.requires_grad and r._prev == () and r._backward is None


def test_no_grad_nests_restores_and_decorates():
    assert is_grad_enabled()
    with no_grad():
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("boom")
    assert is_grad_enabled()

    @no_grad()
    def infer(t):
        return t * 2

    assert not infer(Tensor(np.ones(2), requires_grad=True)).requires_grad
    assert is_grad_enabled()


def test_enable_autograd_is_idempotent():
    add = Tensor.__add__
    enable_autograd()
    enable_autograd()
    assert Tensor.__add__ is add
    assert not hasattr(Tensor.__add__.__wrapped__, "__wrapped__")      # wrapped exactly once
    assert isinstance(Tensor.__dict__["stack"], staticmethod)
    x = Tensor(np.array([1.0]), requires_grad=True)
    (x + 1.0).backward()
    assert x.grad.item() == 1.0


def test_float32_gradients_stay_float32():
    w = Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    x = Tensor(np.ones((4, 3), dtype=np.float32))
    (x @ w).mean().backward()
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad.data, np.full((3, 2), 4 / 8))


def test_astype_gradient_returns_in_operand_dtype():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x.astype(np.float32)
    assert y.dtype == np.float32 and y.requires_grad
    (y * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_max_ties_split_evenly():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    y = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    y.maximum(Tensor(np.array([0.0, 0.0]))).sum().backward()
    np.testing.assert_allclose(y.grad.data, [0.5, 1.0])


def test_getitem_repeated_indices_accumulate():
    emb = Tensor(np.zeros((4, 2)), requires_grad=True)
    emb[np.array([3, 3, 1, 3])].sum().backward()
    np.testing.assert_allclose(emb.grad.data, [[0, 0], [1, 1], [0, 0], [3, 3]])


def test_empty_batch_backward():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    (x @ w).sum().backward()
    assert x.grad.shape == (0, 3)
    np.testing.assert_array_equal(w.grad.data, np.zeros((3, 2)))


def test_graph_freed_without_cycles():
    import gc
    import weakref

    x = Tensor(np.ones(3), requires_grad=True)
    y = (x * 2).exp().sum()
    ref = weakref.ref(y)
    gc.disable()
    try:
        del y
        assert ref() is None      # freed by reference counting alone
    finally:
        gc.enable()


def test_comparison_ops_not_differentiable():
    x = Tensor(np.array([1.0, -1.0]), requires_grad=True)
    m = x > 0.0
    assert m.dtype == np.bool_ and not m.requires_grad


def test_public_names():
    assert set(autograd.__all__) == {"no_grad", "is_grad_enabled", "enable_autograd", "numerical_gradient",
                                     "check_gradients"}
