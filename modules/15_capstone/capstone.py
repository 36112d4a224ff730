# %% [markdown]
# # Capstone: TinyGPT
# > A character-level GPT built from every earlier module: tokenizer, embeddings, pre-norm transformer blocks, training and sampling.
#
# Fourteen modules gave us tensors, autograd, layers, attention, optimizers and a training loop.
# This chapter puts them together into a small language model in the style of GPT-2:
#
# 1. a **character tokenizer** turns text into integer ids;
# 2. **embeddings** turn ids (and positions) into vectors;
# 3. a stack of **transformer blocks** (layer norm, causal multi-head attention, a feed-forward
#    network, residual connections) mixes information along the sequence, strictly from the past;
# 4. a **linear head** turns each position's vector into logits over the next character;
# 5. a **training loop** minimises the cross-entropy of the next character, and **sampling**
#    generates new text one character at a time.
#
# Nothing here is new machinery: every piece is built from `Tensor` methods, so autograd
# differentiates all of it without a single hand-written backward pass.
#
# **The systems angle.** Three numbers decide what a GPT costs:
#
# - *Parameters.* A block holds about `12 * d^2` weights (`4 d^2` in attention, `8 d^2` in the
#   feed-forward network), so a model has roughly `12 * L * d^2 + (V + T) * d` parameters.
#   GPT-2 small (`d = 768`, `L = 12`, `V = 50257`, `T = 1024`) has 124 M of them: about 500 MB in float32.
# - *Attention is O(T^2).* Each layer builds a `T x T` score matrix per head: compute and activation
#   memory grow with the square of the context length. Doubling the context quadruples that cost,
#   which is why models have a fixed `block_size` and why `generate` crops the context.
# - *The KV cache.* Generating token `t` needs the keys and values of all earlier tokens. Real
#   implementations keep them in a cache of `2 * L * T * d` numbers per sequence instead of
#   recomputing them (GPT-2 small: 2 * 12 * 1024 * 768 floats = 75 MB per sequence in float32).
#   Our `generate` recomputes the whole (cropped) context at every step: simple, and O(T^2) per token.

# %%
#| default_exp core.capstone

# %%
#| export
from collections.abc import Sequence

import numpy as np

from tinytorch.core.activations import GELU
from tinytorch.core.attention import MultiHeadAttention, causal_mask
from tinytorch.core.autograd import no_grad
from tinytorch.core.layers import Linear, Module, Parameter
from tinytorch.core.optimizers import Adam
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import CrossEntropyLoss

# %% [markdown]
# ## A tiny corpus
#
# Real language models train on billions of tokens. We ship a few hundred characters, small enough
# to memorise in seconds on a laptop: enough to watch the loss fall and the samples turn from noise
# into something that looks like the text. No downloads, no files.

# %%
#| export
SHAKESPEARE_SNIPPET: str = (
    "To be, or not to be, that is the question:\n"
    "Whether 'tis nobler in the mind to suffer\n"
    "The slings and arrows of outrageous fortune,\n"
    "Or to take arms against a sea of troubles\n"
    "And by opposing end them. To die: to sleep;\n"
    "No more; and by a sleep to say we end\n"
    "The heart-ache and the thousand natural shocks\n"
    "That flesh is heir to, 'tis a consummation\n"
    "Devoutly to be wish'd. To die, to sleep;\n"
    "To sleep: perchance to dream: ay, there's the rub;\n"
)

# %%
assert 400 < len(SHAKESPEARE_SNIPPET) < 1000

# %% [markdown]
# ## Tokenizer
#
# A tokenizer maps text to integers. The simplest one uses one id per distinct character:
# the vocabulary is tiny (a few dozen symbols) but sequences are long. GPT-2 uses byte-pair
# encoding instead: 50257 tokens of about four characters each, so the same context window
# holds four times more text, at the price of a large embedding table (`V * d` = 38 M parameters).

# %%
#| export
class CharTokenizer:
    """Character-level tokenizer: one id per distinct character of `text`, in sorted order."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str) or not text:
            msg = "CharTokenizer needs a non-empty string to build its vocabulary"
            raise ValueError(msg)
        self.chars: list[str] = sorted(set(text))
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(self.chars)}
        self.itos: dict[int, str] = dict(enumerate(self.chars))

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Text -> list of ids; raises ValueError on a character outside the vocabulary."""
        ### BEGIN SOLUTION
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            msg = f"character {e.args[0]!r} is not in the tokenizer's vocabulary ({self.vocab_size} characters)"
            raise ValueError(msg) from None
        ### END SOLUTION

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Ids -> text; raises ValueError on an id outside [0, vocab_size)."""
        ### BEGIN SOLUTION
        flat = np.asarray(ids).reshape(-1)
        out = []
        for i in flat:
            j = int(i)
            if j not in self.itos:
                msg = f"token id {j} is out of range for a vocabulary of {self.vocab_size}"
                raise ValueError(msg)
            out.append(self.itos[j])
        return "".join(out)
        ### END SOLUTION

    def __len__(self) -> int:
        return self.vocab_size

# %%
_tok = CharTokenizer("hello world")
assert _tok.vocab_size == 8 and _tok.decode(_tok.encode("hello")) == "hello"

# %% [markdown]
# ## Embedding
#
# An embedding is a learnable table of shape `(num_embeddings, dim)`; looking up ids is fancy
# indexing, `weight[ids]`. Because `Tensor.__getitem__` is differentiable (its backward scatters
# gradients back with `np.add.at`), the table learns: only the rows that were used receive gradient.
# Mathematically this is a one-hot vector times the table, but the lookup costs `O(B * T * d)`
# instead of `O(B * T * V * d)`.

# %%
#| export
def _as_ids(idx: "np.ndarray | Tensor | Sequence[int]") -> np.ndarray:
    """Token ids as an integer ndarray (from a list, an ndarray or an integer Tensor)."""
    ### BEGIN SOLUTION
    arr = idx.data if isinstance(idx, Tensor) else np.asarray(idx)
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        msg = f"token ids must be integers, got dtype {arr.dtype}"
        raise TypeError(msg)
    return arr.astype(np.int64, copy=False)
    ### END SOLUTION


class Embedding(Module):
    """Lookup table: ids of any shape `S` -> vectors of shape `S + (dim,)`."""

    def __init__(self, num_embeddings: int, dim: int, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if num_embeddings <= 0 or dim <= 0:
            msg = f"Embedding needs positive sizes, got num_embeddings={num_embeddings}, dim={dim}"
            raise ValueError(msg)
        rng = np.random.default_rng(0) if rng is None else rng
        self.num_embeddings = num_embeddings
        self.dim = dim
        # GPT-2 initialises embeddings with std 0.02; a tiny model learns faster from a larger start.
        self.weight = Parameter(rng.normal(0.0, 0.1, size=(num_embeddings, dim)).astype(np.float32))

    def forward(self, idx: "np.ndarray | Tensor | Sequence[int]") -> Tensor:
        """Differentiable lookup `weight[idx]`."""
        ### BEGIN SOLUTION
        ids = _as_ids(idx)
        if ids.size and (ids.min() < 0 or ids.max() >= self.num_embeddings):
            msg = f"Embedding ids must be in [0, {self.num_embeddings}), got min {ids.min()} max {ids.max()}"
            raise IndexError(msg)
        return self.weight[ids]
        ### END SOLUTION

# %%
_emb = Embedding(10, 4)
assert _emb(np.array([[1, 2, 3]])).shape == (1, 3, 4)

# %% [markdown]
# ## Layer normalisation
#
# LayerNorm normalises each position's vector to zero mean and unit variance over its `dim`
# features, then rescales with learned `gamma` and `beta`. Unlike batch norm it needs no batch
# statistics, so training and generation (batch of one) behave the same. It costs two reductions
# over the last axis per call: cheap in FLOPs, but memory-bound, which is why production
# frameworks fuse it into a single kernel.

# %%
#| export
class LayerNorm(Module):
    """Normalise over the last axis, then scale by `gamma` and shift by `beta`."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        if dim <= 0:
            msg = f"LayerNorm needs a positive dim, got {dim}"
            raise ValueError(msg)
        self.dim = dim
        self.eps = eps
        self.gamma = Parameter(np.ones(dim, dtype=np.float32))
        self.beta = Parameter(np.zeros(dim, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        """`(x - mean) / sqrt(var + eps) * gamma + beta` over the last axis."""
        ### BEGIN SOLUTION
        if x.shape[-1] != self.dim:
            msg = f"LayerNorm expected last dimension {self.dim}, got input of shape {x.shape}"
            raise ValueError(msg)
        centred = x - x.mean(axis=-1, keepdims=True)
        var = (centred * centred).mean(axis=-1, keepdims=True)
        return centred / (var + self.eps).sqrt() * self.gamma + self.beta
        ### END SOLUTION

# %%
_y = LayerNorm(6)(Tensor(np.arange(12.0).reshape(2, 6)))
assert np.allclose(_y.data.mean(axis=-1), 0.0, atol=1e-6) and np.allclose(_y.data.std(axis=-1), 1.0, atol=1e-3)

# %% [markdown]
# ## Feed-forward network
#
# After attention has mixed information *across* positions, a two-layer MLP transforms each
# position *independently*: `dim -> 4 * dim -> dim` with GELU in between, as in GPT-2.
# Its two matrices hold `8 * d^2` weights: two thirds of a block's parameters and FLOPs.

# %%
#| export
class FeedForward(Module):
    """Position-wise MLP: Linear(dim, hidden) -> GELU -> Linear(hidden, dim); hidden defaults to 4 * dim."""

    def __init__(self, dim: int, hidden: int | None = None, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        rng = np.random.default_rng(0) if rng is None else rng
        hidden = 4 * dim if hidden is None else hidden
        self.fc1 = Linear(dim, hidden, rng=rng)
        self.act = GELU()
        self.fc2 = Linear(hidden, dim, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the MLP to the last axis of `x`."""
        ### BEGIN SOLUTION
        return self.fc2(self.act(self.fc1(x)))
        ### END SOLUTION

# %%
assert FeedForward(8)(Tensor(np.zeros((2, 3, 8), dtype=np.float32))).shape == (2, 3, 8)

# %% [markdown]
# ## Transformer block
#
# A block is two sub-layers, each wrapped in a residual connection:
#
#     x = x + attention(layer_norm_1(x))      # communicate across positions (causal)
#     x = x + feed_forward(layer_norm_2(x))   # compute at each position
#
# This is the *pre-norm* arrangement used by GPT-2 (the original Transformer normalised after the
# residual addition). Keeping the residual path free of normalisation lets gradients flow straight
# from the loss to the first layer, which makes deep stacks train without warm-up tricks.
# The causal mask lets position `t` attend only to positions `<= t`: the model cannot peek at the
# character it must predict.

# %%
#| export
class TransformerBlock(Module):
    """Pre-norm transformer block: causal multi-head self-attention and a feed-forward MLP, with residuals."""

    def __init__(self, dim: int, num_heads: int, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if dim % num_heads != 0:
            msg = f"dim ({dim}) must be divisible by num_heads ({num_heads})"
            raise ValueError(msg)
        rng = np.random.default_rng(0) if rng is None else rng
        self.ln1 = LayerNorm(dim)
        self.attn = MultiHeadAttention(dim, num_heads, rng=rng)
        self.ln2 = LayerNorm(dim)
        self.ff = FeedForward(dim, rng=rng)

    def forward(self, x: Tensor, mask: np.ndarray | None = None) -> Tensor:
        """x: (B, T, dim) -> (B, T, dim); `mask` defaults to the causal mask of length T."""
        ### BEGIN SOLUTION
        mask = causal_mask(x.shape[1]) if mask is None else mask
        x = x + self.attn(self.ln1(x), mask=mask)
        return x + self.ff(self.ln2(x))
        ### END SOLUTION

# %%
assert TransformerBlock(8, 2)(Tensor(np.zeros((2, 5, 8), dtype=np.float32))).shape == (2, 5, 8)

# %% [markdown]
# ## TinyGPT
#
# The whole model: token embedding plus a *learned* position embedding (GPT-2 learns them too;
# the sinusoidal table of the attention module would work as well), a stack of blocks, a final
# layer norm and a linear head producing `vocab_size` logits at every position. One forward pass
# therefore trains `T` next-character predictions at once, each seeing only its own prefix.
#
# Generation samples one character at a time: run the model on the last `block_size` ids, take the
# logits at the last position, divide by the temperature (below 1: sharper, more conservative; above
# 1: flatter, more surprising), softmax, sample, append, repeat. With a seeded generator the samples
# are reproducible.

# %%
#| export
class TinyGPT(Module):
    """A character-level GPT: embeddings, `num_layers` pre-norm blocks, final LayerNorm and a linear head."""

    def __init__(
        self,
        vocab_size: int,
        dim: int = 32,
        num_heads: int = 4,
        num_layers: int = 2,
        block_size: int = 32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if vocab_size <= 0 or block_size <= 0 or num_layers < 0:
            msg = (
                f"TinyGPT needs vocab_size > 0, block_size > 0 and num_layers >= 0, got "
                f"vocab_size={vocab_size}, block_size={block_size}, num_layers={num_layers}"
            )
            raise ValueError(msg)
        rng = np.random.default_rng(0) if rng is None else rng
        self.vocab_size = vocab_size
        self.block_size = block_size
        self.tok_emb = Embedding(vocab_size, dim, rng=rng)
        self.pos_emb = Embedding(block_size, dim, rng=rng)
        self.blocks = [TransformerBlock(dim, num_heads, rng=rng) for _ in range(num_layers)]
        self.ln_f = LayerNorm(dim)
        self.head = Linear(dim, vocab_size, rng=rng)

    def forward(self, idx: "np.ndarray | Tensor | Sequence[Sequence[int]]") -> Tensor:
        """Ids of shape (B, T) with T <= block_size -> logits of shape (B, T, vocab_size)."""
        ### BEGIN SOLUTION
        ids = _as_ids(idx)
        if ids.ndim != 2:
            msg = f"TinyGPT expects ids of shape (batch, time), got shape {ids.shape}"
            raise ValueError(msg)
        t = ids.shape[1]
        if not 0 < t <= self.block_size:
            msg = f"sequence length {t} must be between 1 and block_size={self.block_size}"
            raise ValueError(msg)
        x = self.tok_emb(ids) + self.pos_emb(np.arange(t))
        mask = causal_mask(t)
        for block in self.blocks:
            x = block(x, mask=mask)
        return self.head(self.ln_f(x))
        ### END SOLUTION

    def generate(
        self,
        idx: "np.ndarray | Tensor | Sequence[int]",
        max_new_tokens: int,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> np.ndarray:
        """Append `max_new_tokens` sampled ids to `idx` ((T,) or (B, T)); returns an int64 array of the same rank."""
        ### BEGIN SOLUTION
        if max_new_tokens < 0:
            msg = f"max_new_tokens must be >= 0, got {max_new_tokens}"
            raise ValueError(msg)
        if not temperature > 0:
            msg = f"temperature must be > 0, got {temperature}"
            raise ValueError(msg)
        ids = _as_ids(idx)
        squeeze = ids.ndim == 1
        ids = ids[None, :] if squeeze else ids
        if ids.ndim != 2 or ids.shape[1] == 0:
            msg = f"generate needs a non-empty prompt of shape (T,) or (B, T), got shape {np.shape(idx)}"
            raise ValueError(msg)
        rng = np.random.default_rng(seed)
        with no_grad():
            for _ in range(max_new_tokens):
                logits = self.forward(ids[:, -self.block_size :]).data[:, -1, :].astype(np.float64)
                logits = logits / temperature
                probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
                cdf = np.cumsum(probs, axis=-1)
                u = rng.random((ids.shape[0], 1)) * cdf[:, -1:]
                nxt = np.minimum((cdf < u).sum(axis=-1), self.vocab_size - 1)
                ids = np.concatenate([ids, nxt[:, None].astype(np.int64)], axis=1)
        return ids[0] if squeeze else ids
        ### END SOLUTION

# %%
_gpt = TinyGPT(vocab_size=5, dim=8, num_heads=2, num_layers=1, block_size=4)
assert _gpt(np.zeros((2, 3), dtype=np.int64)).shape == (2, 3, 5)
assert _gpt.generate([1, 2], max_new_tokens=6).shape == (8,)

# %% [markdown]
# How big is it? Per block: two layer norms (`2 * 2d`), attention (`4d^2 + 4d`), feed-forward
# (`8d^2 + 5d`), so `12 d^2 + 13 d`. Around the blocks: token and position tables (`(V + T) d`),
# the final norm (`2d`) and the head (`d V + V`). For the default model (`V = 40`, `d = 32`, `T = 32`,
# `L = 2`) that is 29,096 parameters, 114 KiB in float32, and the blocks hold 87% of them. GPT-2
# saves `V d` parameters by *tying* the head to the token embedding (the same matrix, transposed);
# we keep them separate for clarity.

# %%
_V, _d, _T, _L = 40, 32, 32, 2
_gpt = TinyGPT(vocab_size=_V, dim=_d, block_size=_T, num_layers=_L)
assert _gpt.num_parameters() == _L * (12 * _d**2 + 13 * _d) + (_V + _T) * _d + 2 * _d + _d * _V + _V == 29_096

# %% [markdown]
# ## Training
#
# Training samples random windows of `block_size + 1` characters: the first `block_size` are the
# input, the same window shifted by one is the target. The loss is the cross-entropy over all
# `B * T` predictions; Adam updates every parameter. At initialisation the model knows nothing,
# so the loss starts near `ln(vocab_size)` (about 3.6 for 38 characters); a model that has
# memorised the snippet drives it well below 1.

# %%
#| export
def train_tinygpt(
    model: TinyGPT,
    text_ids: "Sequence[int] | np.ndarray",
    steps: int,
    batch_size: int,
    lr: float,
    seed: int = 0,
) -> list[float]:
    """Train `model` on random windows of `text_ids` with Adam; returns the loss of every step."""
    ### BEGIN SOLUTION
    ids = _as_ids(text_ids).reshape(-1)
    t = model.block_size
    if len(ids) < t + 1:
        msg = f"text_ids has {len(ids)} tokens; training needs at least block_size + 1 = {t + 1}"
        raise ValueError(msg)
    if steps < 0 or batch_size <= 0 or lr <= 0:
        msg = f"need steps >= 0, batch_size > 0 and lr > 0, got steps={steps}, batch_size={batch_size}, lr={lr}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    optimizer = Adam(model.parameters(), lr=lr)
    loss_fn = CrossEntropyLoss()
    offsets = np.arange(t)
    model.train()
    losses: list[float] = []
    for _ in range(steps):
        starts = rng.integers(0, len(ids) - t, size=batch_size)
        x = ids[starts[:, None] + offsets]
        y = ids[starts[:, None] + offsets + 1]
        logits = model(x)
        loss = loss_fn(logits.reshape(batch_size * t, model.vocab_size), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses
    ### END SOLUTION

# %%
_tok = CharTokenizer(SHAKESPEARE_SNIPPET)
_gpt = TinyGPT(_tok.vocab_size, dim=16, num_heads=2, num_layers=1, block_size=8)
_losses = train_tinygpt(_gpt, _tok.encode(SHAKESPEARE_SNIPPET), steps=5, batch_size=4, lr=1e-2)
assert len(_losses) == 5 and abs(_losses[0] - np.log(_tok.vocab_size)) < 1.5

# %% [markdown]
# ## Sampling
#
# After a few hundred steps (see the system test `tests/system/test_tinygpt.py`, about ten seconds
# on a laptop) the samples reproduce words and line breaks of the snippet. Scaling this recipe up
# (BPE tokens, `d = 768`, 12 layers, a 1024-token context, 40 GB of web text, and a KV cache for
# fast sampling) gives GPT-2.

# %%
_text = _tok.decode(_gpt.generate(_tok.encode("To be"), max_new_tokens=20, temperature=0.8, seed=1))
assert _text.startswith("To be") and len(_text) == 25
