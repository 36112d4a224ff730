"""System test: magnitude pruning (50%) and int8 quantization keep test accuracy within 2 points."""

import numpy as np
import pytest

from tinytorch import (
    MLP,
    Adam,
    CrossEntropyLoss,
    ReLU,
    Tensor,
    accuracy,
    magnitude_prune,
    make_spirals,
    model_size_bytes,
    no_grad,
    quantize_module,
    sparsity,
    train_test_split,
)


SIZES = [2, 128, 128, 3]  # wide enough that half of the weights are redundant


def _test_accuracy(model, X, y) -> float:
    with no_grad():
        return accuracy(model(Tensor(X)), y)


@pytest.fixture(scope="module")
def trained():
    X, y = make_spirals(200, n_classes=3, noise=0.1, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.25, seed=0)
    model = MLP(SIZES, activation=ReLU, rng=np.random.default_rng(0))
    optimizer, loss_fn = Adam(model.parameters(), lr=0.01), CrossEntropyLoss()
    for _ in range(200):  # full-batch training on 450 points
        optimizer.zero_grad()
        loss_fn(model(Tensor(X_train)), y_train).backward()
        optimizer.step()
    return model, X_test, y_test, _test_accuracy(model, X_test, y_test)


def _copy(model):
    clone = MLP(SIZES, activation=ReLU, rng=np.random.default_rng(1))
    clone.load_state_dict(model.state_dict())
    return clone


def test_trained_baseline_is_good(trained):
    _, _, _, base = trained
    assert base >= 0.9


def test_pruning_half_the_weights_keeps_accuracy(trained):
    model, X_test, y_test, base = trained
    pruned = _copy(model)
    report = magnitude_prune(pruned, 0.5)
    assert set(report) == {name for name, p in pruned.named_parameters() if p.ndim >= 2}
    assert sparsity(pruned) == pytest.approx(0.5, abs=1e-3)
    assert model_size_bytes(pruned, sparse=True) < model_size_bytes(model)
    assert abs(_test_accuracy(pruned, X_test, y_test) - base) <= 0.02


def test_int8_quantization_keeps_accuracy(trained):
    model, X_test, y_test, base = trained
    quantized = quantize_module(model)
    assert quantized is not model
    assert all(len(np.unique(w)) <= 256 for name, w in quantized.state_dict().items() if w.ndim >= 2)
    assert model_size_bytes(quantized, bits=8) * 4 == model_size_bytes(model, bits=32)
    assert abs(_test_accuracy(quantized, X_test, y_test) - base) <= 0.02
