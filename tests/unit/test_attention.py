"""Unit tests for tinytorch.core.attention."""

import math

import numpy as np
import pytest

from tinytorch.core.attention import (
    MultiHeadAttention,
    PositionalEncoding,
    causal_mask,
    scaled_dot_product_attention,
    sinusoidal_positions,
)
from tinytorch.core.tensor import Tensor


def _softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _attention_reference(q, k, v, mask=None):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return _softmax(scores) @ v


def _mha_reference(mha, x, mask=None):
    b, t, d = x.shape
    h, hd = mha.num_heads, mha.head_dim

    def proj(layer, inp):
        return inp @ layer.weight.numpy() + layer.bias.numpy()

    def split(a):
        return a.reshape(b, t, h, hd).transpose(0, 2, 1, 3)

    q, k, v = (split(proj(m, x)) for m in (mha.q_proj, mha.k_proj, mha.v_proj))
    heads = _attention_reference(q, k, v, mask)
    return proj(mha.out_proj, heads.transpose(0, 2, 1, 3).reshape(b, t, d))


def _r(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- causal_mask
def test_causal_mask_is_lower_triangular_bool():
    m = causal_mask(4)
    assert m.dtype == np.bool_ and m.shape == (4, 4)
    assert np.array_equal(m, np.tril(np.ones((4, 4))) == 1)
    assert m[2, 2] and m[3, 0] and not m[0, 1]


def test_causal_mask_edge_sizes():
    assert causal_mask(1).tolist() == [[True]] and causal_mask(0).shape == (0, 0)
    with pytest.raises(ValueError, match="seq_len must be >= 0, got -1"):
        causal_mask(-1)


# ---------------------------------------------------------------- scaled_dot_product_attention
@pytest.mark.parametrize(("qs", "ks", "vs"), [((3, 4), (3, 4), (3, 4)), ((2, 5, 4), (2, 5, 4), (2, 5, 3)),
                                              ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 2)), ((1, 1, 4), (1, 1, 4), (1, 1, 4))])
def test_attention_matches_numpy(qs, ks, vs):
    q, k, v = _r(*qs, seed=1), _r(*ks, seed=2), _r(*vs, seed=3)
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v))
    assert out.shape == qs[:-1] + vs[-1:] and out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), _attention_reference(q, k, v), rtol=1e-10, atol=1e-12)


def test_attention_weights_are_a_distribution():
    q, k = _r(2, 5, 4, seed=1), _r(2, 5, 4, seed=2)
    weights = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(np.eye(5))).numpy()  # v = I exposes them
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    assert (weights > 0).all()


def test_causal_mask_zeroes_future_weights_exactly():
    q, k = _r(2, 5, 4, seed=1), _r(2, 5, 4, seed=2)
    weights = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(np.eye(5)), mask=causal_mask(5)).numpy()
    assert (weights[:, ~causal_mask(5)] == 0.0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(weights[:, 0, 0], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_attention_matches_numpy(dtype):
    q, k, v = _r(2, 6, 4, seed=1, dtype=dtype), _r(2, 6, 4, seed=2, dtype=dtype), _r(2, 6, 3, seed=3, dtype=dtype)
    mask = np.random.default_rng(4).random((2, 6, 6)) > 0.3
    mask[:, :, 0] = True                                  # every query keeps at least one key
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=mask)
    assert out.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out.numpy(), _attention_reference(q, k, v, mask), rtol=tol, atol=tol)


def test_all_true_mask_equals_no_mask():
    q, k, v = _r(3, 4, seed=1), _r(3, 4, seed=2), _r(3, 4, seed=3)
    a = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=np.ones((3, 3), dtype=bool))
    np.testing.assert_allclose(a.numpy(), scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v)).numpy())


def test_fully_masked_row_gives_no_nan():
    q, k, v = _r(3, 4, seed=1), _r(3, 4, seed=2), _r(3, 4, seed=3)
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), mask=mask).numpy()
    assert np.isfinite(out).all()


def test_attention_is_stable_for_huge_scores():
    q = _r(4, 8, seed=1, dtype=np.float32) * 1e4
    k = _r(4, 8, seed=2, dtype=np.float32) * 1e4
    out = scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(np.eye(4, dtype=np.float32))).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)


def test_attention_accepts_ndarrays():
    q = _r(2, 3, seed=1)
    out = scaled_dot_product_attention(q, q, q)
    assert isinstance(out, Tensor) and out.shape == (2, 3)


@pytest.mark.parametrize(
    ("shapes", "mask", "error", "match"),
    [(((3, 4), (3, 5), (3, 4)), None, ValueError, "query and key feature sizes differ"),
     (((3, 4), (3, 4), (2, 4)), None, ValueError, "key and value sequence lengths differ"),
     (((4,), (4,), (4,)), None, ValueError, "at least 2 dims"),
     (((3, 4), (3, 4), (3, 4)), np.ones((3, 3)), TypeError, "mask must be a boolean array"),
     (((3, 4), (3, 4), (3, 4)), np.ones((2, 3), dtype=bool), ValueError, r"mask of shape \(2, 3\) does not broadcast")],
)
def test_attention_errors(shapes, mask, error, match):
    q, k, v = (Tensor(_r(*s)) for s in shapes)
    with pytest.raises(error, match=match):
        scaled_dot_product_attention(q, k, v, mask=mask)


# ---------------------------------------------------------------- MultiHeadAttention
def test_mha_parameters_and_attributes():
    mha = MultiHeadAttention(8, 2)
    assert mha.embed_dim == 8 and mha.num_heads == 2 and mha.head_dim == 4
    assert [n for n, _ in mha.named_parameters()] == [
        f"{p}.{w}" for p in ("q_proj", "k_proj", "v_proj", "out_proj") for w in ("weight", "bias")]
    assert mha.num_parameters() == 4 * 8 * 8 + 4 * 8
    assert repr(mha).startswith("MultiHeadAttention(embed_dim=8, num_heads=2")


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_mha_matches_numpy(heads):
    mha = MultiHeadAttention(8, heads, rng=np.random.default_rng(1))
    for layer in (mha.q_proj, mha.k_proj, mha.v_proj, mha.out_proj):
        layer.bias.data = np.random.default_rng(2).standard_normal(8).astype(np.float32) * 0.1
    x = _r(2, 5, 8, seed=3, dtype=np.float32)
    out = mha(Tensor(x))
    assert out.shape == (2, 5, 8) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), _mha_reference(mha, x.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_mha_with_causal_and_per_example_masks():
    mha = MultiHeadAttention(6, 3, rng=np.random.default_rng(0))
    x = _r(2, 4, 6, seed=5, dtype=np.float32)
    cm = causal_mask(4)
    np.testing.assert_allclose(mha(Tensor(x), mask=cm).numpy(), _mha_reference(mha, x, cm), rtol=1e-4, atol=1e-5)
    per_example = np.stack([cm, np.ones((4, 4), dtype=bool)])          # (B, T, T): same for every head
    out = mha(Tensor(x), mask=per_example).numpy()
    np.testing.assert_allclose(out[0], _mha_reference(mha, x[:1], cm)[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out[1], _mha_reference(mha, x[1:])[0], rtol=1e-4, atol=1e-5)


def test_mha_output_at_t_ignores_the_future_under_causal_mask():
    mha = MultiHeadAttention(8, 2)
    x = _r(1, 6, 8, seed=1, dtype=np.float32)
    y = x.copy()
    y[:, 4:] = 10.0
    a = mha(Tensor(x), mask=causal_mask(6)).numpy()
    b = mha(Tensor(y), mask=causal_mask(6)).numpy()
    np.testing.assert_allclose(a[:, :4], b[:, :4], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_mha_is_permutation_equivariant_without_mask():
    mha = MultiHeadAttention(4, 2)
    x = _r(1, 5, 4, seed=2, dtype=np.float32)
    perm = np.array([3, 0, 4, 1, 2])
    out = mha(Tensor(x)).numpy()
    np.testing.assert_allclose(mha(Tensor(x[:, perm])).numpy(), out[:, perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("b", "t"), [(1, 1), (1, 3), (0, 3)])
def test_mha_small_and_empty_batches(b, t):
    assert MultiHeadAttention(4, 2)(Tensor(np.zeros((b, t, 4), dtype=np.float32))).shape == (b, t, 4)


def test_mha_is_seeded_and_state_round_trips():
    a, b = MultiHeadAttention(4, 2), MultiHeadAttention(4, 2, rng=np.random.default_rng(9))
    assert np.array_equal(a.q_proj.weight.data, MultiHeadAttention(4, 2).q_proj.weight.data)
    assert not np.array_equal(a.q_proj.weight.data, a.k_proj.weight.data)
    x = Tensor(_r(2, 3, 4, dtype=np.float32))
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a(x).numpy(), b(x).numpy())


@pytest.mark.parametrize(
    ("args", "match"),
    [((6, 4), r"embed_dim \(6\) must be divisible by num_heads \(4\)"), ((0, 1), "must be positive"),
     ((4, 0), "must be positive")],
)
def test_mha_rejects_bad_configuration(args, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(*args)


@pytest.mark.parametrize("shape", [(3, 8), (2, 3, 6), (1, 2, 3, 8)])
def test_mha_rejects_bad_input_shape(shape):
    with pytest.raises(ValueError, match=r"expects input \(B, T, 8\)"):
        MultiHeadAttention(8, 2)(Tensor(np.zeros(shape, dtype=np.float32)))


# ---------------------------------------------------------------- positional encoding
def test_sinusoidal_positions_formula():
    pe = sinusoidal_positions(7, 6)
    assert pe.shape == (7, 6) and pe.dtype == np.float32
    pos = np.arange(7)[:, None]
    i = np.arange(3)[None, :]
    angle = pos / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(pe[:, 0::2], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(angle), atol=1e-6)


def test_sinusoidal_positions_odd_dim_and_edges():
    pe = sinusoidal_positions(5, 5)
    assert pe.shape == (5, 5) and np.allclose(pe[0], [0, 1, 0, 1, 0])
    assert sinusoidal_positions(0, 4).shape == (0, 4) and sinusoidal_positions(3, 1).shape == (3, 1)
    big = sinusoidal_positions(50, 16)
    assert np.abs(big).max() <= 1.0 and len({row.tobytes() for row in big}) == 50     # every position distinct


@pytest.mark.parametrize("args", [(-1, 4), (4, 0)])
def test_sinusoidal_positions_errors(args):
    with pytest.raises(ValueError, match="need seq_len >= 0 and dim >= 1"):
        sinusoidal_positions(*args)


def test_positional_encoding_adds_the_table():
    pe = PositionalEncoding(10, 4)
    x = _r(2, 6, 4, dtype=np.float32)
    out = pe(Tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x + sinusoidal_positions(6, 4)[None], rtol=1e-6)
    np.testing.assert_allclose(pe(Tensor(np.zeros((3, 4), dtype=np.float32))).numpy(), sinusoidal_positions(3, 4))
    assert pe.parameters() == [] and pe.state_dict() == {}
    assert repr(pe) == "PositionalEncoding(max_len=10, dim=4)"


@pytest.mark.parametrize(
    ("shape", "match"),
    [((1, 11, 4), "sequence length 11 exceeds max_len 10"), ((1, 3, 5), r"expects input \(B, T, 4\)"),
     ((4,), r"expects input"), ((1, 1, 3, 4), "expects input")],
)
def test_positional_encoding_errors(shape, match):
    with pytest.raises(ValueError, match=match):
        PositionalEncoding(10, 4)(Tensor(np.zeros(shape, dtype=np.float32)))
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        PositionalEncoding(0, 4)
