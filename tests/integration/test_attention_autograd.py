"""Attention under autograd: gradients checked numerically; the causal mask really hides the future."""

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (makes Tensor ops differentiable)
from tinytorch.core.attention import (
    MultiHeadAttention,
    PositionalEncoding,
    causal_mask,
    scaled_dot_product_attention,
)
from tinytorch.core.autograd import check_gradients, numerical_gradient
from tinytorch.core.layers import Module
from tinytorch.core.tensor import Tensor


def _float64(module: Module) -> Module:
    """Gradient checks need float64: cast every parameter in place."""
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
    return module


def _assert_gradients(f, tensors, rtol=1e-5, atol=1e-7):
    """Compare autograd's gradients of `sum(f() * w)` (fixed random w) with central differences."""
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=f().shape)

    def loss() -> Tensor:
        return (f() * w).sum()

    for t in tensors:
        t.grad = None
    loss().backward()
    for i, t in enumerate(tensors):
        numeric = numerical_gradient(lambda _: loss(), t)
        assert t.grad is not None, f"tensor {i} got no gradient"
        np.testing.assert_allclose(t.grad.data, numeric, rtol=rtol, atol=atol, err_msg=f"tensor {i}")


def _x(*shape: int, seed: int = 0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


# ---------------------------------------------------------------- scaled dot-product attention
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (2, 4, 3), (2, 2, 3, 4)])
def test_attention_gradients_wrt_q_k_v(shape, masked):
    q, k, v = _x(*shape, seed=1), _x(*shape, seed=2), _x(*shape, seed=3)
    mask = causal_mask(shape[-2]) if masked else None
    _assert_gradients(lambda: scaled_dot_product_attention(q, k, v, mask=mask), [q, k, v])


def test_attention_with_cross_lengths_passes_autograds_checker():
    q, k, v = _x(2, 3, 4, seed=4), _x(2, 5, 4, seed=5), _x(2, 5, 2, seed=6)
    mask = np.random.default_rng(7).random((2, 3, 5)) > 0.4
    mask[..., 0] = True
    assert check_gradients(lambda q, k, v: scaled_dot_product_attention(q, k, v, mask=mask), [q, k, v])


def test_masked_keys_and_values_get_exactly_zero_gradient():
    t = 5
    q, k, v = _x(t, 4, seed=1), _x(t, 4, seed=2), _x(t, 4, seed=3)
    out = scaled_dot_product_attention(q, k, v, mask=causal_mask(t))
    out[:2].sum().backward()                        # only queries 0 and 1 contribute
    np.testing.assert_array_equal(k.grad.data[2:], 0.0)
    np.testing.assert_array_equal(v.grad.data[2:], 0.0)
    np.testing.assert_array_equal(q.grad.data[2:], 0.0)
    assert np.abs(v.grad.data[:2]).sum() > 0


def test_sdpa_causal_output_at_t_ignores_later_inputs():
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal((2, 6, 4)) for _ in range(3))
    base = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=causal_mask(6)).numpy()
    for t in range(6):
        q2, k2, v2 = q.copy(), k.copy(), v.copy()
        for a in (q2, k2, v2):
            a[:, t + 1:] = rng.standard_normal(a[:, t + 1:].shape) * 5
        out = scaled_dot_product_attention(Tensor(q2), Tensor(k2), Tensor(v2), mask=causal_mask(6)).numpy()
        np.testing.assert_allclose(out[:, :t + 1], base[:, :t + 1], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- MultiHeadAttention
@pytest.mark.parametrize("heads", [1, 2])
@pytest.mark.parametrize("masked", [False, True])
def test_mha_gradients_wrt_input_and_every_parameter(heads, masked):
    mha = _float64(MultiHeadAttention(4, heads, rng=np.random.default_rng(1)))
    for p in mha.parameters():
        if p.ndim == 1:
            p.data = np.random.default_rng(p.size).uniform(-0.2, 0.2, p.shape)
    x = _x(2, 3, 4, seed=2)
    mask = causal_mask(3) if masked else None
    _assert_gradients(lambda: mha(x, mask=mask), [x, *mha.parameters()])


def test_mha_every_parameter_gets_a_float32_gradient():
    mha = MultiHeadAttention(8, 2)
    mha(Tensor(np.random.default_rng(0).standard_normal((2, 4, 8)).astype(np.float32)), mask=causal_mask(4)).sum().backward()
    for name, p in mha.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape and p.grad.dtype == np.float32, name


def test_mha_causal_output_at_t_unchanged_when_later_inputs_change():
    mha = MultiHeadAttention(8, 4, rng=np.random.default_rng(3))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 8)).astype(np.float32)
    base = mha(Tensor(x), mask=causal_mask(6)).numpy()
    for t in range(5):
        changed = x.copy()
        changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape) * 10
        out = mha(Tensor(changed), mask=causal_mask(6)).numpy()
        np.testing.assert_allclose(out[:, :t + 1], base[:, :t + 1], rtol=1e-5, atol=1e-5)
        assert not np.allclose(out[:, t + 1:], base[:, t + 1:])
    unmasked = mha(Tensor(changed), mask=None).numpy()        # without the mask the past does see the change
    assert not np.allclose(unmasked[:, :1], mha(Tensor(x), mask=None).numpy()[:, :1])


def test_mha_causal_gradient_of_output_t_wrt_later_inputs_is_zero():
    mha = _float64(MultiHeadAttention(4, 2))
    x = _x(1, 5, 4, seed=5)
    mha(x, mask=causal_mask(5))[:, 2].sum().backward()
    np.testing.assert_array_equal(x.grad.data[:, 3:], 0.0)
    assert np.abs(x.grad.data[:, :3]).min() > 0


def test_positional_encoding_then_attention_gradient():
    pe = PositionalEncoding(8, 4)
    mha = _float64(MultiHeadAttention(4, 2, rng=np.random.default_rng(6)))
    x = _x(2, 5, 4, seed=7)
    _assert_gradients(lambda: mha(pe(x), mask=causal_mask(5)), [x, mha.q_proj.weight])
