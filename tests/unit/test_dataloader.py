"""Unit tests for tinytorch.core.dataloader: datasets, batching, seeded shuffling, generators."""

from __future__ import annotations

import numpy as np
import pytest

from tinytorch.core.dataloader import (
    DataLoader,
    Dataset,
    TensorDataset,
    make_blobs,
    make_shapes,
    make_spirals,
    make_xor,
    train_test_split,
)
from tinytorch.core.tensor import Tensor


class _Squares(Dataset):
    """A map-style dataset computed on the fly (exercises the generic collate path)."""

    def __len__(self) -> int:
        return 7

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return np.array([index, index**2], dtype=np.float32), index % 2


def _ids(loader: DataLoader) -> list[int]:
    return [int(v) for batch in loader for v in batch[-1].numpy()]


# ---- Dataset / TensorDataset ---------------------------------------------------------

def test_dataset_is_abstract() -> None:
    with pytest.raises(TypeError):
        Dataset()  # type: ignore[abstract]


def test_tensor_dataset_indexing_and_len() -> None:
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    x3, y3 = ds[3]
    assert x3.tolist() == [6.0, 7.0] and y3 == 3
    xb, yb = ds[np.array([5, 0])]
    assert xb.shape == (2, 2) and yb.tolist() == [5, 0]


def test_tensor_dataset_accepts_tensors() -> None:
    ds = TensorDataset(Tensor(np.ones((3, 2))), np.zeros(3))
    assert len(ds) == 3 and isinstance(ds[0][0], np.ndarray)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ((), "at least one array"),
        ((np.zeros(3), np.zeros(4)), r"same first dimension, got \[3, 4\]"),
        ((np.float32(1.0),), "scalar"),
    ],
)
def test_tensor_dataset_errors(arrays: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TensorDataset(*arrays)


# ---- DataLoader ----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("n", "bs", "drop_last", "sizes"),
    [(10, 4, False, [4, 4, 2]), (10, 4, True, [4, 4]), (8, 4, False, [4, 4]), (3, 5, False, [3]), (3, 5, True, [])],
)
def test_batch_sizes_and_len(n: int, bs: int, drop_last: bool, sizes: list[int]) -> None:
    loader = DataLoader(TensorDataset(np.arange(n)), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert [len(b[0]) for b in batches] == sizes
    assert len(loader) == len(sizes)


def test_batches_are_tuples_of_tensors_with_dtypes_kept() -> None:
    X = np.zeros((5, 3), dtype=np.float32)
    y = np.arange(5, dtype=np.int64)
    xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=2)))
    assert isinstance(xb, Tensor) and isinstance(yb, Tensor)
    assert xb.dtype == np.float32 and yb.dtype == np.int64 and xb.shape == (2, 3)
    (only,) = next(iter(DataLoader(TensorDataset(X), batch_size=5)))
    assert only.shape == (5, 3)


def test_no_shuffle_keeps_order() -> None:
    assert _ids(DataLoader(TensorDataset(np.arange(9)), batch_size=4)) == list(range(9))


def test_shuffle_is_a_permutation_that_changes_each_epoch() -> None:
    loader = DataLoader(TensorDataset(np.arange(50)), batch_size=8, shuffle=True, seed=3)
    e1, e2 = _ids(loader), _ids(loader)
    assert sorted(e1) == sorted(e2) == list(range(50))
    assert e1 != e2 and e1 != list(range(50))


def test_shuffle_is_reproducible_for_a_seed() -> None:
    def epochs(seed: int) -> list[list[int]]:
        loader = DataLoader(TensorDataset(np.arange(30)), batch_size=7, shuffle=True, seed=seed)
        return [_ids(loader) for _ in range(3)]

    assert epochs(1) == epochs(1)
    assert epochs(1) != epochs(2)


def test_shuffle_keeps_features_and_labels_aligned() -> None:
    X = np.arange(20, dtype=np.float32).reshape(10, 2)
    y = np.arange(10)
    for xb, yb in DataLoader(TensorDataset(X, y), batch_size=3, shuffle=True):
        assert np.array_equal(xb.numpy()[:, 0], 2 * yb.numpy())


def test_generic_dataset_is_collated() -> None:
    batches = list(DataLoader(_Squares(), batch_size=3))
    assert [len(b[0]) for b in batches] == [3, 3, 1]
    xb, yb = batches[1]
    assert xb.numpy().tolist() == [[3, 9], [4, 16], [5, 25]] and yb.numpy().tolist() == [1, 0, 1]


@pytest.mark.parametrize("bs", [0, -3, 2.5, True])
def test_bad_batch_size(bs: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(TensorDataset(np.arange(4)), batch_size=bs)  # type: ignore[arg-type]


# ---- generated datasets --------------------------------------------------------------

def test_make_xor_labels_follow_quadrants() -> None:
    X, y = make_xor(400, noise=0.1, seed=0)
    assert X.shape == (400, 2) and X.dtype == np.float32 and y.dtype == np.int64
    assert np.array_equal(y, (np.sign(X[:, 0]) != np.sign(X[:, 1])).astype(np.int64))
    assert 0.4 < y.mean() < 0.6


def test_make_spirals_shapes_and_balance() -> None:
    X, y = make_spirals(40, n_classes=4, noise=0.1, seed=1)
    assert X.shape == (160, 2) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [40] * 4
    assert np.abs(X).max() < 1.5


def test_make_blobs_with_given_centers() -> None:
    centers = np.array([[0.0, 0.0, 0.0], [10.0, 10.0, 10.0]])
    X, y = make_blobs(100, centers, dim=3, std=0.5, seed=0)
    assert X.shape == (100, 3) and np.bincount(y).tolist() == [50, 50]
    for k in range(2):
        assert np.allclose(X[y == k].mean(axis=0), centers[k], atol=0.3)


def test_make_shapes_format() -> None:
    X, y = make_shapes(40, size=12, noise=0.1, seed=0)
    assert X.shape == (40, 1, 12, 12) and X.dtype == np.float32 and y.dtype == np.int64
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.bincount(y).tolist() == [10, 10, 10, 10]


def test_make_shapes_classes_look_right() -> None:
    X, y = make_shapes(40, size=12, noise=0.0, seed=5)
    for img, label in zip(X[:, 0], y):
        on = img > 0
        rows, cols = np.nonzero(on)
        h, w = np.ptp(rows) + 1, np.ptp(cols) + 1
        if label == 2:
            assert w >= 3 * h
        elif label == 3:
            assert h >= 3 * w
        elif label == 0:
            assert h == w and not on[rows.min() + 1 : rows.max(), cols.min() + 1 : cols.max()].any()
        else:
            assert h == w and on.sum() == 2 * h - 1


@pytest.mark.parametrize(
    "make",
    [
        lambda s: make_xor(50, seed=s),
        lambda s: make_spirals(20, seed=s),
        lambda s: make_blobs(50, 3, seed=s),
        lambda s: make_shapes(12, seed=s),
    ],
)
def test_generators_are_deterministic_per_seed(make) -> None:  # type: ignore[no-untyped-def]
    (X1, y1), (X2, y2), (X3, _) = make(0), make(0), make(1)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_xor(0), "n must be positive"),
        (lambda: make_xor(10, noise=-1.0), "noise must be >= 0"),
        (lambda: make_spirals(10, n_classes=1), "n_classes >= 2"),
        (lambda: make_blobs(10, 0), "centers must be >= 1"),
        (lambda: make_blobs(10, np.zeros(3)), r"shape \(k, dim\)"),
        (lambda: make_shapes(10, size=5), "size must be >= 8"),
    ],
)
def test_generator_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


# ---- train_test_split ----------------------------------------------------------------

def test_train_test_split_partitions_and_keeps_pairs() -> None:
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    assert len(Xte) == 5 and len(Xtr) == 15
    assert sorted(np.concatenate([ytr, yte]).tolist()) == list(range(20))
    assert np.array_equal(Xtr[:, 0] // 2, ytr) and np.array_equal(Xte[:, 0] // 2, yte)
    again = train_test_split(X, y, test_fraction=0.25, seed=0)
    assert np.array_equal(again[3], yte)
    assert not np.array_equal(train_test_split(X, y, seed=1)[3], yte)


### BEGIN HIDDEN TESTS
@pytest.mark.parametrize(
    ("X", "y", "frac", "match"),
    [
        (np.zeros((4, 2)), np.zeros(5), 0.25, "same length"),
        (np.zeros((4, 2)), np.zeros(4), 0.0, r"test_fraction must be in \(0, 1\)"),
        (np.zeros((4, 2)), np.zeros(4), 1.0, r"test_fraction must be in \(0, 1\)"),
        (np.zeros((2, 2)), np.zeros(2), 0.1, "empty train or test set"),
    ],
)
def test_train_test_split_errors(X: np.ndarray, y: np.ndarray, frac: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        train_test_split(X, y, test_fraction=frac)
### END HIDDEN TESTS
