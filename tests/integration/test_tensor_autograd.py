"""Integration: Tensor + autograd on small composite programs (MLP step, accumulation, no_grad, deep graphs)."""

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (patches Tensor: every op becomes differentiable)
from tinytorch.core.autograd import check_gradients, no_grad
from tinytorch.core.tensor import Tensor, concatenate, randn, stack, where, zeros


def _rng(seed=0):
    return np.random.default_rng(seed)


def test_two_layer_network_gradients_match_numerical():
    rng = _rng()
    x = Tensor(rng.standard_normal((5, 3)))
    w1 = Tensor(rng.standard_normal((3, 4)) * 0.5)
    b1 = Tensor(rng.standard_normal(4) * 0.1)
    w2 = Tensor(rng.standard_normal((4, 2)) * 0.5)
    y = Tensor(rng.standard_normal((5, 2)))

    def loss(w1, b1, w2):
        h = where(x @ w1 + b1 > 0.0, x @ w1 + b1, 0.0)
        return ((h @ w2 - y) ** 2).mean()

    assert check_gradients(loss, [w1, b1, w2])
    # and the hand-derived gradient of the last layer agrees
    pre = x.data @ w1.data + b1.data
    h = np.maximum(pre, 0)
    grad_out = 2 * (h @ w2.data - y.data) / y.size
    np.testing.assert_allclose(w2.grad.data, h.T @ grad_out, rtol=1e-10, atol=1e-12)


def test_gradient_descent_reduces_loss():
    rng = _rng(1)
    x = Tensor(rng.standard_normal((32, 3)).astype(np.float32))
    true_w = np.array([[1.0], [-2.0], [0.5]], dtype=np.float32)
    y = Tensor(x.data @ true_w)
    w = zeros(3, 1, requires_grad=True)
    losses = []
    for _ in range(50):
        loss = ((x @ w - y) ** 2).mean()
        losses.append(loss.item())
        w.zero_grad()
        loss.backward()
        w.data -= 0.1 * w.grad.data
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w.data, true_w, atol=1e-2)
    assert w.grad.dtype == np.float32


def test_softmax_cross_entropy_composite():
    rng = _rng(2)
    logits = Tensor(rng.standard_normal((4, 5)), requires_grad=True)
    labels = np.array([0, 3, 1, 4])

    def ce(z):
        shifted = z - z.max(axis=1, keepdims=True)
        logp = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
        return -logp[np.arange(4), labels].mean()

    assert check_gradients(ce, [logits])
    p = np.exp(logits.data) / np.exp(logits.data).sum(axis=1, keepdims=True)
    onehot = np.eye(5)[labels]
    np.testing.assert_allclose(logits.grad.data, (p - onehot) / 4, atol=1e-12)


def test_im2col_style_conv_gradient():
    """pad + fancy getitem + reshape + matmul: the recipe spatial uses for Conv2d."""
    rng = _rng(3)
    x = Tensor(rng.standard_normal((2, 1, 4, 4)))
    w = Tensor(rng.standard_normal((3, 1 * 2 * 2)))
    rows, cols = np.meshgrid(np.arange(4), np.arange(4), indexing="ij")   # padded 5x5 -> 4x4 outputs, k=2
    ki, kj = np.meshgrid(np.arange(2), np.arange(2), indexing="ij")
    r = rows.reshape(-1, 1) + ki.reshape(1, -1)
    c = cols.reshape(-1, 1) + kj.reshape(1, -1)

    def conv(x, w):
        xp = x.pad(((0, 0), (0, 0), (1, 0), (1, 0)))
        patches = xp[:, 0][:, r, c]                      # (N, 16, 4)
        return (patches @ w.T).transpose(0, 2, 1).reshape(2, 3, 4, 4)

    assert check_gradients(conv, [x, w])


def test_attention_style_composite():
    rng = _rng(4)
    q, k, v = (Tensor(rng.standard_normal((2, 3, 4))) for _ in range(3))
    mask = np.tril(np.ones((3, 3), dtype=bool))

    def attn(q, k, v):
        scores = q @ k.transpose(0, 2, 1) / 2.0
        scores = where(mask, scores, -1e9)
        e = (scores - scores.max(axis=-1, keepdims=True)).exp()
        return (e / e.sum(axis=-1, keepdims=True)) @ v

    assert check_gradients(attn, [q, k, v])


def test_layer_norm_and_concat_stack_composite():
    rng = _rng(5)
    a = Tensor(rng.standard_normal((3, 4)))
    b = Tensor(rng.standard_normal((3, 2)))
    g = Tensor(rng.standard_normal(6))

    def fn(a, b, g):
        h = concatenate([a, b], axis=1)
        norm = (h - h.mean(axis=-1, keepdims=True)) / (h.var(axis=-1, keepdims=True) + 1e-5).sqrt()
        return stack([norm * g, norm.abs().clip(0.1, 1.5)], axis=0).sum(axis=(0, 1))

    assert check_gradients(fn, [a, b, g])


def test_accumulation_then_zero_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for _ in range(3):
        (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 3 * 2 * x.data)
    x.zero_grad()
    (x * 5.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, [5.0, 5.0])


def test_no_grad_blocks_graph_but_leaves_keep_requires_grad():
    w = randn(3, 2, requires_grad=True)
    with no_grad():
        out = Tensor(np.ones((4, 3), dtype=np.float32)) @ w
        fresh = Tensor([1.0], requires_grad=True)       # explicit leaves keep their flag
    assert not out.requires_grad and out._prev == ()
    assert fresh.requires_grad and w.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        out.sum().backward()


def test_detach_stops_gradient():
    x = Tensor(np.array([3.0]), requires_grad=True)
    y = x * x.detach()
    y.backward()
    np.testing.assert_allclose(x.grad.data, [3.0])


@pytest.mark.parametrize("n", [5000])
def test_deep_chain_no_recursion_error(n):
    x = Tensor(np.array([0.5]), requires_grad=True)
    y = x
    for _ in range(n):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0001 ** n], rtol=1e-9)


def test_deep_chain_of_mixed_ops():
    x = Tensor(np.array([0.3, -0.2]), requires_grad=True)
    y = x
    for i in range(2500):        # 5000 ops
        y = (y + 0.001).tanh() if i % 2 else y * 0.999 - 0.0005
    y.sum().backward()
    assert np.isfinite(x.grad.data).all() and x.grad.shape == (2,)


def test_wide_diamond_graph_visits_each_node_once():
    x = Tensor(np.array([1.0]), requires_grad=True)
    h = x * 2.0
    total = h
    for _ in range(200):
        total = total + h        # h feeds 201 consumers
    total.backward()
    np.testing.assert_allclose(x.grad.data, [2.0 * 201])
