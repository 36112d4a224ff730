"""Integration: prune and quantize a trained MLP (layers + dense + training); accuracy kept, size shrinks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (gradients for training)
from tinytorch.core.compression import (
    compression_report,
    magnitude_prune,
    model_size_bytes,
    quantize_module,
    sparsity,
)
from tinytorch.core.dataloader import DataLoader, TensorDataset, make_spirals, train_test_split
from tinytorch.core.dense import MLP
from tinytorch.core.optimizers import Adam
from tinytorch.core.training import CrossEntropyLoss, Trainer, accuracy

# Accuracy may drop by at most this much (absolute) after compression.
MARGIN = 0.03


@pytest.fixture(scope="module")
def trained() -> tuple[MLP, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    X, y = make_spirals(150, n_classes=3, noise=0.1, seed=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.3, seed=0)
    model = MLP([2, 64, 64, 3], rng=np.random.default_rng(0))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    trainer.fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True), epochs=60)
    base = accuracy(trainer.predict(Xte), yte)
    assert base >= 0.93  # measured 0.978 (chance 0.33)
    return model, Xtr, ytr, Xte, yte, base


def _labels(model: MLP, X: np.ndarray) -> np.ndarray:
    return Trainer(model, Adam(model.parameters()), CrossEntropyLoss()).predict(X).argmax(axis=1)


def _acc(model: MLP, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(_labels(model, X) == y))


def test_int8_quantization_keeps_accuracy_and_is_4x_smaller(trained) -> None:  # type: ignore[no-untyped-def]
    model, _, _, Xte, yte, base = trained
    qmodel = quantize_module(model)
    assert _acc(qmodel, Xte, yte) >= base - MARGIN  # measured: unchanged (0.978)
    assert model_size_bytes(model, bits=32) == 4 * model_size_bytes(qmodel, bits=8)
    agree = np.mean(_labels(qmodel, Xte) == _labels(model, Xte))
    assert agree >= 0.97  # the int8 model makes (nearly) the same predictions as the float one


def test_prune_half_then_quantize(trained) -> None:  # type: ignore[no-untyped-def]
    model, _, _, Xte, yte, base = trained
    compressed = copy.deepcopy(model)
    magnitude_prune(compressed, 0.5)
    compressed = quantize_module(compressed)
    report = compression_report(model, compressed, bits=8, sparse=True, X=Xte, y=yte)
    assert report["sparsity"] == pytest.approx(0.5, abs=1e-3)
    assert report["original_accuracy"] == base
    assert report["compressed_accuracy"] >= base - MARGIN  # measured 0.978
    assert report["ratio"] > 6.0  # measured 6.25: int8 (4x) times sparse storage
    assert report["compressed_bytes"] < model_size_bytes(model, bits=8)


def test_heavy_pruning_hurts_and_fine_tuning_recovers_with_mask_kept(trained) -> None:  # type: ignore[no-untyped-def]
    model, Xtr, ytr, Xte, yte, base = trained
    pruned = copy.deepcopy(model)
    magnitude_prune(pruned, 0.9)
    hurt = _acc(pruned, Xte, yte)
    assert hurt < base - MARGIN  # measured 0.778: 90% is too much without retraining
    trainer = Trainer(pruned, Adam(pruned.parameters(), lr=0.005), CrossEntropyLoss())
    trainer.fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=32, shuffle=True), epochs=10)
    assert sparsity(pruned) == pytest.approx(0.9, abs=1e-3)  # the optimizer kept pruned weights at zero
    assert _acc(pruned, Xte, yte) >= base - MARGIN  # measured 0.978 after 10 epochs of fine-tuning
