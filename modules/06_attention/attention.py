# %% [markdown]
# # Attention
# > Scaled dot-product attention, causal masks, multi-head attention and sinusoidal positional encodings.
#
# A convolution mixes information from a *fixed* neighbourhood. Attention lets every position of a
# sequence decide, from the data, which other positions to read from. Each position emits a *query*;
# every position offers a *key* and a *value*; a position's output is the average of all values weighted by
# how well its query matches each key:
#
#     Attention(Q, K, V) = softmax(Q @ K^T / sqrt(d)) @ V
#
# This chapter builds that formula, the **causal mask** that stops a language model from reading the
# future, **multi-head** attention (several attentions in parallel on slices of the embedding), and
# **positional encodings**, because attention by itself is blind to order (permute the inputs and the
# outputs are permuted the same way). These are the pieces of the transformer in the capstone.
#
# **Systems angle: the T^2 wall.** For a sequence of length `T`, the score matrix `Q @ K^T` is `T x T`
# per head per example. With `B` examples and `H` heads it holds `B*H*T^2` numbers, and training keeps it
# (and the softmax of it) for the backward pass. At `T = 4096`, `H = 16`, `B = 8`, float32, that is
# 8.6 GB for a single layer's scores. Compute is `~4*B*T^2*D` FLOPs for the two matmuls, also quadratic.
# That quadratic memory, not the FLOPs, is what limited context lengths; FlashAttention (what PyTorch's
# `F.scaled_dot_product_attention` dispatches to on GPUs) computes the same result block by block with
# an online softmax, never materialising the `T x T` matrix, so memory becomes linear in `T`.

# %%
#| default_exp core.attention

# %%
#| export
import math
from typing import Any

import numpy as np

from tinytorch.core.layers import Linear, Module
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Softmax, and masking by addition
#
# We need a softmax, but this module depends only on `tensor` and `layers`, so we write a private one from
# Tensor methods. It subtracts the row maximum first (softmax is shift invariant, and `exp` of a large
# score would overflow); the maximum is `detach()`ed because the shift does not change the result, so it
# needs no gradient.
#
# A mask says which keys each query may look at (`True` = keep, PyTorch's boolean convention for
# `scaled_dot_product_attention`). We apply it by *adding* a large negative number (`-1e9`) to the masked
# scores: after the softmax their weight is exactly 0.0 in float32, their gradient too. Using `-inf`
# would be cleaner on paper, but a row with every key masked would then compute `-inf - (-inf) = nan`.

# %%
#| export
_MASKED_SCORE = -1e9


def _softmax(x: Tensor, axis: int = -1) -> Tensor:
    """Numerically stable softmax built from Tensor methods."""
    ### BEGIN SOLUTION
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    e = shifted.exp()
    return e / e.sum(axis=axis, keepdims=True)
    ### END SOLUTION


def _swap_last_two(x: Tensor) -> Tensor:
    ### BEGIN SOLUTION
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return x.transpose(*axes)
    ### END SOLUTION


def _attention(q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray | None) -> tuple[Tensor, Tensor]:
    """Return `(output, weights)` of scaled dot-product attention."""
    ### BEGIN SOLUTION
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        msg = f"attention needs q, k, v with at least 2 dims (..., T, d); got {q.shape}, {k.shape}, {v.shape}"
        raise ValueError(msg)
    if q.shape[-1] != k.shape[-1]:
        msg = f"query and key feature sizes differ: q {q.shape}, k {k.shape}"
        raise ValueError(msg)
    if k.shape[-2] != v.shape[-2]:
        msg = f"key and value sequence lengths differ: k {k.shape}, v {v.shape}"
        raise ValueError(msg)
    scores = (q @ _swap_last_two(k)) * (1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype != np.bool_:
            msg = f"mask must be a boolean array (True = keep), got dtype {mask.dtype}"
            raise TypeError(msg)
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            msg = f"mask of shape {mask.shape} does not broadcast to the scores' shape {scores.shape}"
            raise ValueError(msg) from None
        scores = scores + np.where(mask, 0.0, _MASKED_SCORE).astype(scores.dtype)
    weights = _softmax(scores, axis=-1)
    return weights @ v, weights
    ### END SOLUTION

# %%
_s = _softmax(Tensor(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]])))
assert np.allclose(_s.numpy(), [[0.5, 0.5], [0.25, 0.75]])

# %% [markdown]
# ## Scaled dot-product attention
#
# Why divide by `sqrt(d)`? If query and key entries are independent with unit variance, their dot
# product over `d` features has variance `d`. Large scores push the softmax into a nearly one-hot regime
# where its gradient vanishes; scaling brings the variance back to 1. The function works on any leading
# batch dimensions: `(T, d)`, `(B, T, d)` or `(B, H, T, d)`.

# %%
#| export
def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor, mask: np.ndarray | None = None) -> Tensor:
    """`softmax(q @ k^T / sqrt(d) + masked) @ v`; `mask` is a bool array, True = may attend, broadcast to the scores."""
    ### BEGIN SOLUTION
    q, k, v = (t if isinstance(t, Tensor) else Tensor(np.asarray(t)) for t in (q, k, v))
    return _attention(q, k, v, mask)[0]
    ### END SOLUTION

# %%
_rng = np.random.default_rng(0)
_q, _k, _v = (_rng.standard_normal((2, 3, 4)) for _ in range(3))
_sc = _q @ _k.transpose(0, 2, 1) / 2.0
_w = np.exp(_sc - _sc.max(-1, keepdims=True))
_w /= _w.sum(-1, keepdims=True)
assert np.allclose(scaled_dot_product_attention(Tensor(_q), Tensor(_k), Tensor(_v)).numpy(), _w @ _v)

# %% [markdown]
# ## Causal mask
#
# A language model predicts token `t+1` from tokens `0..t`. If position `t` could attend to `t+1`, training
# would be trivially easy and generation impossible. The causal mask is the lower triangle: query `i`
# keeps keys `j <= i`. Because it only depends on `T`, it is a plain boolean numpy array (no gradient).

# %%
#| export
def causal_mask(seq_len: int) -> np.ndarray:
    """Boolean `(seq_len, seq_len)` lower-triangular mask: True where query i may attend to key j <= i."""
    ### BEGIN SOLUTION
    if seq_len < 0:
        msg = f"seq_len must be >= 0, got {seq_len}"
        raise ValueError(msg)
    return np.tril(np.ones((seq_len, seq_len), dtype=bool))
    ### END SOLUTION

# %%
assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
_out = scaled_dot_product_attention(Tensor(_q), Tensor(_k), Tensor(_v), mask=causal_mask(3)).numpy()
assert np.allclose(_out[:, 0], _v[:, 0])          # the first position can only read itself

# %% [markdown]
# ## Multi-head attention
#
# One attention computes one weighted average per position: it can only "look" one way at a time.
# Multi-head attention projects `x` to queries, keys and values with `Linear` layers, splits the
# `embed_dim` features into `num_heads` heads of `head_dim = embed_dim / num_heads`, runs attention on
# every head in parallel (the heads are just one more batch axis: `(B, H, T, head_dim)`), then
# concatenates the heads and mixes them with an output projection.
#
# Parameters: four `D x D` matrices plus biases, `4*D^2 + 4*D`, independent of the number of heads and of
# `T`. The split into heads is a `reshape` plus a `transpose`; PyTorch's `nn.MultiheadAttention` does the
# same, with the three input projections fused into one `(D, 3D)` matmul for speed.

# %%
#| export
class MultiHeadAttention(Module):
    """Multi-head self-attention over `x` of shape `(B, T, embed_dim)`."""

    def __init__(self, embed_dim: int, num_heads: int, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if embed_dim < 1 or num_heads < 1:
            msg = f"embed_dim and num_heads must be positive, got embed_dim={embed_dim}, num_heads={num_heads}"
            raise ValueError(msg)
        if embed_dim % num_heads != 0:
            msg = f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})"
            raise ValueError(msg)
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads
        rng = np.random.default_rng(0) if rng is None else rng
        self.q_proj = Linear(embed_dim, embed_dim, rng=rng)
        self.k_proj = Linear(embed_dim, embed_dim, rng=rng)
        self.v_proj = Linear(embed_dim, embed_dim, rng=rng)
        self.out_proj = Linear(embed_dim, embed_dim, rng=rng)

    def _split_heads(self, t: Tensor, batch: int, seq: int) -> Tensor:
        ### BEGIN SOLUTION
        return t.reshape(batch, seq, self.num_heads, self.head_dim).transpose(0, 2, 1, 3)
        ### END SOLUTION

    def forward(self, x: Tensor, mask: np.ndarray | None = None) -> Tensor:
        """Self-attention; `mask` (bool, True = keep) of shape `(T, T)`, `(B, T, T)` or broadcastable to `(B, H, T, T)`."""
        ### BEGIN SOLUTION
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim != 3 or x.shape[-1] != self.embed_dim:
            msg = f"MultiHeadAttention expects input (B, T, {self.embed_dim}), got shape {x.shape}"
            raise ValueError(msg)
        b, t, _ = x.shape
        if mask is not None:
            mask = np.asarray(mask)
            if mask.ndim == 3:  # (B, T, T): the same mask for every head
                mask = mask[:, None, :, :]
        q = self._split_heads(self.q_proj(x), b, t)
        k = self._split_heads(self.k_proj(x), b, t)
        v = self._split_heads(self.v_proj(x), b, t)
        heads = _attention(q, k, v, mask)[0]
        merged = heads.transpose(0, 2, 1, 3).reshape(b, t, self.embed_dim)
        return self.out_proj(merged)
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        ### END SOLUTION

# %%
_mha = MultiHeadAttention(8, 2, rng=np.random.default_rng(0))
_xm = np.random.default_rng(1).standard_normal((2, 5, 8)).astype(np.float32)
assert _mha(Tensor(_xm)).shape == (2, 5, 8) and _mha.num_parameters() == 4 * (8 * 8 + 8)
_xm2 = _xm.copy()
_xm2[:, 3:] += 1.0                                     # change the future...
_o1 = _mha(Tensor(_xm), mask=causal_mask(5)).numpy()
_o2 = _mha(Tensor(_xm2), mask=causal_mask(5)).numpy()
assert np.allclose(_o1[:, :3], _o2[:, :3], atol=1e-5)  # ...the past does not notice

# %% [markdown]
# ## Positional encoding
#
# Attention treats its input as a *set*. To give it order, we add to each position a vector that
# depends on the position. The original transformer uses sines and cosines of geometrically spaced
# frequencies:
#
#     PE[pos, 2i]   = sin(pos / 10000^(2i / dim))
#     PE[pos, 2i+1] = cos(pos / 10000^(2i / dim))
#
# Low dimensions oscillate fast (fine position), high ones slowly (coarse position), like the digits of a
# clock, and `PE[pos + k]` is a linear function of `PE[pos]`, which makes relative offsets easy to learn.
# It has no parameters: `PositionalEncoding` precomputes a `(max_len, dim)` table once (a buffer, not a
# `Parameter`, so it is neither trained nor in the `state_dict`) and adds its first `T` rows. GPT-style
# models instead learn the table (an `Embedding` of positions, see the capstone).

# %%
#| export
def sinusoidal_positions(seq_len: int, dim: int) -> np.ndarray:
    """`(seq_len, dim)` float32 table: sin on even features, cos on odd ones, wavelengths up to 10000*2pi."""
    ### BEGIN SOLUTION
    if seq_len < 0 or dim < 1:
        msg = f"need seq_len >= 0 and dim >= 1, got seq_len={seq_len}, dim={dim}"
        raise ValueError(msg)
    positions = np.arange(seq_len, dtype=np.float64)[:, None]
    freqs = np.exp(-math.log(10000.0) * np.arange(0, dim, 2, dtype=np.float64) / dim)
    angles = positions * freqs[None, :]
    table = np.zeros((seq_len, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : dim // 2])
    return table.astype(np.float32)
    ### END SOLUTION


class PositionalEncoding(Module):
    """Add fixed sinusoidal position vectors to `x` of shape `(B, T, dim)` or `(T, dim)`, `T <= max_len`."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        if max_len < 1:
            msg = f"max_len must be >= 1, got {max_len}"
            raise ValueError(msg)
        self.max_len = int(max_len)
        self.dim = int(dim)
        self.encoding = sinusoidal_positions(self.max_len, self.dim)

    def forward(self, x: Tensor) -> Tensor:
        """Return `x + encoding[:T]`."""
        ### BEGIN SOLUTION
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim not in (2, 3) or x.shape[-1] != self.dim:
            msg = f"PositionalEncoding expects input (B, T, {self.dim}) or (T, {self.dim}), got shape {x.shape}"
            raise ValueError(msg)
        seq = x.shape[-2]
        if seq > self.max_len:
            msg = f"sequence length {seq} exceeds max_len {self.max_len}"
            raise ValueError(msg)
        return x + self.encoding[:seq]
        ### END SOLUTION

    def extra_repr(self) -> str:
        ### BEGIN SOLUTION
        return f"max_len={self.max_len}, dim={self.dim}"
        ### END SOLUTION

# %%
_pe = sinusoidal_positions(4, 6)
assert _pe.shape == (4, 6) and np.allclose(_pe[0], [0, 1, 0, 1, 0, 1]) and np.isclose(_pe[1, 0], np.sin(1.0))
assert np.allclose(PositionalEncoding(10, 6)(Tensor(np.zeros((2, 4, 6), dtype=np.float32))).numpy()[1], _pe)
