"""Unit tests for the capstone: tokenizer, embedding, layer norm, transformer block, TinyGPT."""

import numpy as np
import pytest

from tinytorch.core.autograd import check_gradients  # importing autograd makes Tensor ops differentiable
from tinytorch.core.capstone import (
    SHAKESPEARE_SNIPPET,
    CharTokenizer,
    Embedding,
    FeedForward,
    LayerNorm,
    TinyGPT,
    TransformerBlock,
    train_tinygpt,
)
from tinytorch.core.tensor import Tensor


def _numeric_grad(f, arr: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar f() with respect to every entry of `arr` (changed in place)."""
    grad = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + eps
        up = f()
        arr[i] = old - eps
        down = f()
        arr[i] = old
        grad[i] = (up - down) / (2 * eps)
    return grad


def _small_gpt(**kw) -> TinyGPT:
    args = {"vocab_size": 7, "dim": 8, "num_heads": 2, "num_layers": 2, "block_size": 6}
    args.update(kw)
    return TinyGPT(**args, rng=np.random.default_rng(0))


# --- tokenizer -------------------------------------------------------------------------------


def test_tokenizer_round_trip_on_snippet():
    tok = CharTokenizer(SHAKESPEARE_SNIPPET)
    ids = tok.encode(SHAKESPEARE_SNIPPET)
    assert len(ids) == len(SHAKESPEARE_SNIPPET)
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == SHAKESPEARE_SNIPPET
    assert tok.decode(np.array(ids)) == SHAKESPEARE_SNIPPET
    assert tok.vocab_size == len(set(SHAKESPEARE_SNIPPET)) == len(tok)


def test_tokenizer_ids_are_sorted_characters():
    tok = CharTokenizer("cab")
    assert tok.encode("abc") == [0, 1, 2]
    assert tok.decode([2, 1, 0]) == "cba"


def test_tokenizer_errors():
    with pytest.raises(ValueError, match="non-empty"):
        CharTokenizer("")
    tok = CharTokenizer("ab")
    with pytest.raises(ValueError, match="'z' is not in the tokenizer's vocabulary"):
        tok.encode("abz")
    with pytest.raises(ValueError, match="token id 5 is out of range"):
        tok.decode([0, 5])


def test_snippet_is_a_few_hundred_characters():
    assert 300 <= len(SHAKESPEARE_SNIPPET) <= 1000


# --- embedding ---------------------------------------------------------------------------------


def test_embedding_lookup_shape_and_values():
    emb = Embedding(10, 4, rng=np.random.default_rng(1))
    ids = np.array([[1, 2, 3], [3, 3, 9]])
    out = emb(ids)
    assert out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    assert emb(Tensor(np.array([0, 9]))).shape == (2, 4)
    assert len(emb.parameters()) == 1


def test_embedding_gradient_matches_numeric_and_accumulates_repeats():
    emb = Embedding(5, 3, rng=np.random.default_rng(2))
    emb.weight.data = np.random.default_rng(3).normal(size=(5, 3))  # float64 for the numeric check
    ids = np.array([[0, 2, 2], [4, 2, 0]])
    w = np.random.default_rng(4).normal(size=(2, 3, 3))

    def loss_value() -> float:
        return float((emb.weight.data[ids] ** 2 * w).sum())

    loss = (emb(ids) * emb(ids) * Tensor(w)).sum()
    loss.backward()
    numeric = _numeric_grad(loss_value, emb.weight.data)
    np.testing.assert_allclose(emb.weight.grad.data, numeric, rtol=1e-5, atol=1e-7)
    assert np.all(emb.weight.grad.data[[1, 3]] == 0)  # unused rows get no gradient


def test_embedding_errors():
    emb = Embedding(4, 2)
    with pytest.raises(IndexError, match=r"ids must be in \[0, 4\)"):
        emb(np.array([0, 4]))
    with pytest.raises(TypeError, match="must be integers"):
        emb(np.array([0.5]))
    with pytest.raises(ValueError, match="positive sizes"):
        Embedding(0, 2)


# --- layer norm and feed-forward -----------------------------------------------------------------


def test_layernorm_normalises_last_axis():
    x = Tensor(np.random.default_rng(5).normal(3.0, 4.0, size=(2, 3, 8)).astype(np.float32))
    y = LayerNorm(8)(x)
    assert y.shape == (2, 3, 8)
    np.testing.assert_allclose(y.data.mean(axis=-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.data.var(axis=-1), 1.0, atol=1e-3)


def test_layernorm_gradients_match_numeric():
    rng = np.random.default_rng(6)
    ln = LayerNorm(5)
    ln.gamma.data = rng.normal(size=5)
    ln.beta.data = rng.normal(size=5)
    x_data = rng.normal(size=(3, 5))
    w = rng.normal(size=(3, 5))
    x = Tensor(x_data, requires_grad=True)

    def loss_value() -> float:
        return float((ln(Tensor(x_data)) * Tensor(w)).sum().item())

    (ln(x) * Tensor(w)).sum().backward()
    for analytic, array in [(x.grad, x_data), (ln.gamma.grad, ln.gamma.data), (ln.beta.grad, ln.beta.data)]:
        np.testing.assert_allclose(analytic.data, _numeric_grad(loss_value, array), rtol=1e-5, atol=1e-7)


def test_layernorm_input_gradient_passes_check_gradients():
    ln = LayerNorm(4)
    x = Tensor(np.random.default_rng(7).normal(size=(2, 3, 4)))
    assert check_gradients(lambda t: ln(t), [x])


def test_layernorm_rejects_wrong_width():
    with pytest.raises(ValueError, match="expected last dimension 4"):
        LayerNorm(4)(Tensor(np.zeros((2, 3), dtype=np.float32)))


def test_feedforward_shape_and_parameters():
    ff = FeedForward(6, rng=np.random.default_rng(0))
    assert ff(Tensor(np.ones((2, 3, 6), dtype=np.float32))).shape == (2, 3, 6)
    assert ff.num_parameters() == 6 * 24 + 24 + 24 * 6 + 6


# --- transformer block and TinyGPT ----------------------------------------------------------------


def test_transformer_block_shape_and_divisibility_error():
    block = TransformerBlock(8, 2, rng=np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).normal(size=(2, 5, 8)).astype(np.float32))
    assert block(x).shape == (2, 5, 8)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerBlock(10, 3)


def test_transformer_block_gradient_passes_check_gradients():
    block = TransformerBlock(4, 2, rng=np.random.default_rng(0))
    for p in block.parameters():
        p.data = p.data.astype(np.float64)  # float64 for central differences
    x = Tensor(np.random.default_rng(1).normal(size=(1, 3, 4)))
    assert check_gradients(lambda t: block(t), [x])


def test_transformer_block_is_causal():
    block = TransformerBlock(8, 2, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(1, 6, 8)).astype(np.float32)
    x2 = x.copy()
    x2[:, 4:] += 1.0
    a, b = block(Tensor(x)).data, block(Tensor(x2)).data
    np.testing.assert_allclose(a[:, :4], b[:, :4], atol=1e-6)
    assert not np.allclose(a[:, 4:], b[:, 4:])


def test_tinygpt_logits_shape_and_parameter_count():
    model = _small_gpt()
    assert model(np.zeros((3, 6), dtype=np.int64)).shape == (3, 6, 7)
    assert model(np.zeros((1, 2), dtype=np.int64)).shape == (1, 2, 7)
    d, v, t = 8, 7, 6
    embeddings_and_head = v * d + t * d + (d * v + v) + 2 * d
    assert model.num_parameters() > embeddings_and_head + 2 * (8 * d * d)
    assert len(model.parameters()) == len({id(p) for p in model.parameters()})


def test_tinygpt_is_causal():
    model = _small_gpt()
    ids = np.array([[1, 2, 3, 4, 5, 6]])
    changed = ids.copy()
    changed[0, 3:] = [0, 0, 0]
    a, b = model(ids).data, model(changed).data
    np.testing.assert_allclose(a[0, :3], b[0, :3], atol=1e-6)
    assert not np.allclose(a[0, 3:], b[0, 3:])


def test_tinygpt_backward_reaches_every_parameter():
    model = _small_gpt()
    model(np.array([[1, 2, 3, 4]])).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.shape == p.shape, name
    assert np.abs(model.tok_emb.weight.grad.data[[1, 2, 3, 4]]).sum() > 0


def test_tinygpt_input_errors():
    model = _small_gpt()
    with pytest.raises(ValueError, match="between 1 and block_size=6"):
        model(np.zeros((1, 7), dtype=np.int64))
    with pytest.raises(ValueError, match=r"shape \(batch, time\)"):
        model(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match="vocab_size > 0"):
        TinyGPT(0)


# --- generation -----------------------------------------------------------------------------------


def test_generate_length_vocab_and_prompt():
    model = _small_gpt()
    out = model.generate([1, 2, 3], max_new_tokens=10)
    assert out.shape == (13,)
    assert list(out[:3]) == [1, 2, 3]
    assert out.min() >= 0 and out.max() < 7
    batch = model.generate(np.array([[1], [2]]), max_new_tokens=4)
    assert batch.shape == (2, 5)
    assert model.generate([1], max_new_tokens=0).tolist() == [1]


def test_generate_crops_context_beyond_block_size():
    model = _small_gpt(block_size=4)
    assert model.generate(np.arange(6) % 7, max_new_tokens=5).shape == (11,)


def test_generate_is_deterministic_for_a_seed():
    model = _small_gpt()
    a = model.generate([1, 2], max_new_tokens=20, seed=3)
    b = model.generate([1, 2], max_new_tokens=20, seed=3)
    c = model.generate([1, 2], max_new_tokens=20, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generate_low_temperature_is_greedy():
    model = _small_gpt()
    out = model.generate([1, 2], max_new_tokens=1, temperature=1e-3, seed=0)
    greedy = int(np.argmax(model(np.array([[1, 2]])).data[0, -1]))
    assert out[-1] == greedy


def test_generate_errors():
    model = _small_gpt()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        model.generate([1], 3, temperature=0.0)
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        model.generate([1], -1)
    with pytest.raises(ValueError, match="non-empty prompt"):
        model.generate(np.zeros(0, dtype=np.int64), 3)


# --- training -------------------------------------------------------------------------------------


def test_train_tinygpt_lowers_loss_and_is_reproducible():
    tok = CharTokenizer("abcabcabcabcabcabcabcabc")
    ids = tok.encode("abcabcabcabcabcabcabcabc")

    def run() -> list[float]:
        model = TinyGPT(tok.vocab_size, dim=8, num_heads=2, num_layers=1, block_size=4, rng=np.random.default_rng(0))
        return train_tinygpt(model, ids, steps=30, batch_size=4, lr=3e-2, seed=1)

    losses = run()
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * losses[0]
    assert losses == run()


def test_train_tinygpt_errors():
    model = _small_gpt()
    with pytest.raises(ValueError, match="at least block_size \\+ 1 = 7"):
        train_tinygpt(model, [1, 2, 3], steps=1, batch_size=2, lr=1e-3)
    with pytest.raises(ValueError, match="batch_size > 0"):
        train_tinygpt(model, list(range(7)) * 3, steps=1, batch_size=0, lr=1e-3)
