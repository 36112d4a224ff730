# %% [markdown]
# # DataLoader
# > Datasets, mini-batching with seeded shuffling, and small generated datasets to train on.
#
# A model never sees "the data": it sees a stream of mini-batches. This chapter builds the
# three pieces that produce that stream, in the shape PyTorch gives them
# (`torch.utils.data`):
#
# * a **`Dataset`**: something with a length that returns example `i`;
# * a **`DataLoader`**: cuts the index range `0..n-1` into batches, optionally shuffled,
#   gathers the examples of each batch and stacks them into `Tensor`s;
# * a few **generated datasets** (XOR, spirals, blobs, tiny images of shapes) so the
#   rest of the course can train real models with no downloads.
#
# **The systems angle.** Data loading is often the hidden bottleneck of training. A
# Python loop that fetches examples one by one and stacks them costs a few microseconds
# *per example*; a GPU step on a small model may take less than that per example. That
# is why PyTorch runs loaders in worker processes (`num_workers`), pins memory for faster
# host-to-device copies, and prefetches the next batches while the model trains.
# We stay single-process, but we keep the one trick that matters most here: when the
# data already sits in arrays (`TensorDataset`), a batch is gathered with *one* fancy
# index `X[idx]` (a single vectorised copy) instead of a Python loop over examples.
#
# Shuffling matters too: reproducible experiments need a seed, and SGD needs a
# *different* order each epoch. We derive each epoch's permutation from `(seed, epoch)`,
# so two loaders built with the same seed produce the same sequence of epochs.

# %%
#| default_exp core.dataloader

# %%
#| export
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Datasets
#
# A `Dataset` is the smallest possible contract: `len(ds)` and `ds[i]`. Anything can sit
# behind it (files on disk, a database, a generator). `TensorDataset` is the common case
# where all examples already live in memory as arrays sharing their first dimension. It
# also accepts an *array of indices*, which the `DataLoader` uses to gather a whole batch
# with one vectorised copy.

# %%
#| export
class Dataset(ABC):
    """Abstract dataset: subclasses implement `__len__` and `__getitem__`."""

    @abstractmethod
    def __len__(self) -> int:
        """Number of examples."""

    @abstractmethod
    def __getitem__(self, index: int) -> Any:
        """Example `index` (usually a tuple such as `(x, y)`)."""


class TensorDataset(Dataset):
    """Examples stored in arrays (or Tensors) that share their first dimension."""

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        data = [np.asarray(a.data if isinstance(a, Tensor) else a) for a in arrays]
        for i, a in enumerate(data):
            if a.ndim == 0:
                raise ValueError(f"TensorDataset: array {i} is a scalar; arrays need a first (example) dimension")
        n = len(data[0])
        lengths = [len(a) for a in data]
        if any(length != n for length in lengths):
            raise ValueError(f"TensorDataset: all arrays must have the same first dimension, got {lengths}")
        self.arrays: tuple[np.ndarray, ...] = tuple(data)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: int | np.ndarray) -> tuple[np.ndarray, ...]:
        """Example `index`, or a whole batch when `index` is an integer array."""
        return tuple(a[index] for a in self.arrays)

# %%
_ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.array([0, 1, 0, 1, 1]))
assert len(_ds) == 5
_x, _y = _ds[2]
assert _x.tolist() == [4.0, 5.0] and _y == 0
assert _ds[np.array([0, 4])][1].tolist() == [0, 1]

# %% [markdown]
# ## The DataLoader
#
# The loader owns the *order* of the examples. Each call to `iter(loader)` starts a new
# epoch: with `shuffle=True` it draws a fresh permutation from a generator seeded with
# `(seed, epoch)`, so the order changes every epoch yet the whole run is reproducible.
# `drop_last=True` discards a final short batch (useful when a layer such as batch norm
# dislikes tiny batches). `len(loader)` is the number of batches per epoch:
# `ceil(n / batch_size)`, or `floor(n / batch_size)` with `drop_last`.
#
# Batches come out as tuples of `Tensor`s that keep the arrays' dtypes: float32
# features stay float32, int64 labels stay int64 (a cross-entropy loss wants integer
# class indices).

# %%
#| export
def _collate(items: list[Any]) -> tuple[np.ndarray, ...]:
    """Stack a list of examples (tuples of arrays/scalars) into a tuple of batch arrays."""
    ### BEGIN SOLUTION
    first = items[0]
    if not isinstance(first, tuple):
        return (np.stack([np.asarray(item) for item in items]),)
    return tuple(np.stack([np.asarray(item[k]) for item in items]) for k in range(len(first)))
    ### END SOLUTION


class DataLoader:
    """Iterate over a dataset in mini-batches of Tensors, optionally shuffled (seeded)."""

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 32,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0  # number of epochs started; drives the per-epoch permutation

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self, epoch: int) -> np.ndarray:
        ### BEGIN SOLUTION
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)
        ### END SOLUTION

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        order = self._order(self.epoch)
        self.epoch += 1
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if isinstance(self.dataset, TensorDataset):
                arrays = self.dataset[idx]  # one vectorised gather per array
            else:
                arrays = _collate([self.dataset[int(i)] for i in idx])
            yield tuple(Tensor(a) for a in arrays)

# %%
_loader = DataLoader(TensorDataset(np.arange(10.0)[:, None], np.arange(10)), batch_size=4)
assert len(_loader) == 3 and [len(b[1]) for b in _loader] == [4, 4, 2]
_sh = DataLoader(TensorDataset(np.arange(10)), batch_size=10, shuffle=True, seed=1)
_e1, _e2 = next(iter(_sh))[0].numpy(), next(iter(_sh))[0].numpy()
assert sorted(_e1.tolist()) == list(range(10)) and not np.array_equal(_e1, _e2)

# %% [markdown]
# ## Generated datasets
#
# Small, deterministic problems that each teach something:
#
# * `make_xor`: four noisy clusters at the corners `(+-1, +-1)`, label 1 when the signs
#   differ. No straight line separates the classes, so a linear model fails and a
#   one-hidden-layer MLP succeeds.
# * `make_spirals`: interleaved arms (the CS231n classic); needs a deeper, wider MLP.
# * `make_blobs`: Gaussian clusters, the "hello world" of classification.
#
# Every generator takes a `seed` and builds its own `np.random.default_rng(seed)`:
# no global random state, so the same call always returns the same arrays.
# Features are float32 (the dtype models compute in), labels int64.

# %%
#| export
def make_xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR: `n` points around the corners (+-1, +-1); label 1 when the two signs differ."""
    ### BEGIN SOLUTION
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    corners = rng.choice(np.array([-1.0, 1.0]), size=(n, 2))
    X = corners + noise * rng.standard_normal((n, 2))
    y = (corners[:, 0] != corners[:, 1]).astype(np.int64)
    return X.astype(np.float32), y
    ### END SOLUTION


def make_spirals(
    n_per_class: int, n_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class; X has shape (n_per_class * n_classes, 2)."""
    ### BEGIN SOLUTION
    if n_per_class <= 0 or n_classes < 2:
        raise ValueError(f"need n_per_class > 0 and n_classes >= 2, got {n_per_class}, {n_classes}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    theta = y * (2 * np.pi / n_classes) + radius * 4.0 + noise * rng.standard_normal(len(y))
    X = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=1)
    return X.astype(np.float32), y
    ### END SOLUTION


def make_blobs(
    n: int, centers: int | np.ndarray, dim: int = 2, std: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`n` points from isotropic Gaussians around `centers` (a count, or a (k, dim) array)."""
    ### BEGIN SOLUTION
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    rng = np.random.default_rng(seed)
    if np.ndim(centers) == 0:
        k = int(centers)  # type: ignore[arg-type]
        if k < 1:
            raise ValueError(f"centers must be >= 1, got {k}")
        means = rng.uniform(-10.0, 10.0, size=(k, dim))
    else:
        means = np.asarray(centers, dtype=np.float64)
        if means.ndim != 2:
            raise ValueError(f"centers array must have shape (k, dim), got {means.shape}")
    y = rng.permutation(np.arange(n) % len(means)).astype(np.int64)
    X = means[y] + std * rng.standard_normal((n, means.shape[1]))
    return X.astype(np.float32), y
    ### END SOLUTION

# %%
_X, _y = make_xor(8, seed=3)
assert _X.shape == (8, 2) and _X.dtype == np.float32 and set(_y.tolist()) <= {0, 1}
assert np.array_equal(make_xor(8, seed=3)[0], _X)
_X, _y = make_spirals(5, n_classes=3)
assert _X.shape == (15, 2) and np.bincount(_y).tolist() == [5, 5, 5]
_X, _y = make_blobs(9, centers=3, dim=4)
assert _X.shape == (9, 4) and np.bincount(_y).tolist() == [3, 3, 3]

# %% [markdown]
# ### Shapes: a tiny image task for CNNs
#
# `make_shapes` draws `n` single-channel images (NCHW: `(n, 1, size, size)`, float32,
# values in `[0, 1]`) of four classes at random positions and scales:
#
# | label | shape |
# |---|---|
# | 0 | hollow square |
# | 1 | plus-shaped cross |
# | 2 | horizontal bar |
# | 3 | vertical bar |
#
# Because the position varies, a pixel-by-pixel rule does not work well; a convolution
# that detects edges and line ends anywhere in the image (translation equivariance)
# followed by pooling does. Classes are balanced (`n // 4` each, then shuffled).

# %%
#| export
_SHAPE_NAMES = ("square", "cross", "hbar", "vbar")


def _draw_shape(img: np.ndarray, label: int, rng: np.random.Generator) -> None:
    """Draw one shape of class `label` into the square image `img` (in place)."""
    ### BEGIN SOLUTION
    size = img.shape[0]
    value = rng.uniform(0.75, 1.0)
    if label == 0:  # hollow square, side 4..size-3
        s = int(rng.integers(4, max(5, size - 2)))
        r, c = (int(v) for v in rng.integers(0, size - s + 1, size=2))
        img[r, c : c + s] = img[r + s - 1, c : c + s] = value
        img[r : r + s, c] = img[r : r + s, c + s - 1] = value
    elif label == 1:  # cross: odd arm length, centred somewhere inside
        s = 2 * int(rng.integers(2, max(3, (size - 1) // 2))) + 1
        r, c = (int(v) for v in rng.integers(0, size - s + 1, size=2))
        img[r + s // 2, c : c + s] = value
        img[r : r + s, c + s // 2] = value
    else:  # bar: long and thin (for size >= 12, length >= 3 x thickness)
        length = int(rng.integers(max(3, size // 2), size - 1))
        thick = int(rng.integers(1, 3))
        r = int(rng.integers(0, size - thick + 1))
        c = int(rng.integers(0, size - length + 1))
        if label == 2:
            img[r : r + thick, c : c + length] = value
        else:
            img[c : c + length, r : r + thick] = value
    ### END SOLUTION


def make_shapes(n: int, size: int = 12, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`n` images (n, 1, size, size) of 4 classes: 0 square, 1 cross, 2 horizontal bar, 3 vertical bar."""
    ### BEGIN SOLUTION
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if size < 8:
        raise ValueError(f"size must be >= 8 so that the shapes fit, got {size}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % len(_SHAPE_NAMES)).astype(np.int64)
    X = np.zeros((n, 1, size, size), dtype=np.float64)
    for i in range(n):
        _draw_shape(X[i, 0], int(y[i]), rng)
    X += noise * rng.standard_normal(X.shape)
    return np.clip(X, 0.0, 1.0).astype(np.float32), y
    ### END SOLUTION

# %%
_X, _y = make_shapes(8, size=10, seed=1)
assert _X.shape == (8, 1, 10, 10) and _X.dtype == np.float32 and _X.min() >= 0 and _X.max() <= 1
assert np.bincount(_y).tolist() == [2, 2, 2, 2]
assert np.array_equal(make_shapes(8, size=10, seed=1)[0], _X)

# %% [markdown]
# ## Train/test split
#
# Evaluating on the training data measures memorisation, not learning. `train_test_split`
# holds out a seeded random fraction, returning `X_train, X_test, y_train, y_test` in
# scikit-learn's order.

# %%
#| export
def train_test_split(
    X: np.ndarray, y: np.ndarray, test_fraction: float = 0.25, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Seeded random split; returns `X_train, X_test, y_train, y_test`."""
    ### BEGIN SOLUTION
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(X)
    n_test = int(round(n * test_fraction))
    if n_test < 1 or n_test > n - 1:
        raise ValueError(f"test_fraction={test_fraction} of {n} examples leaves an empty train or test set")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]
    ### END SOLUTION

# %%
_Xtr, _Xte, _ytr, _yte = train_test_split(np.arange(20).reshape(10, 2), np.arange(10), test_fraction=0.3)
assert len(_Xte) == 3 and len(_Xtr) == 7
assert sorted(np.concatenate([_ytr, _yte]).tolist()) == list(range(10))
assert np.array_equal(_Xtr[:, 0] // 2, _ytr)
