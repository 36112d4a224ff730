"""Integration: generated datasets -> DataLoader -> Trainer (with dense MLPs and optimizers)."""

from __future__ import annotations

import numpy as np

import tinytorch.core.autograd  # noqa: F401  (gradients)
from tinytorch.core.dataloader import (
    DataLoader,
    TensorDataset,
    make_blobs,
    make_shapes,
    make_spirals,
    make_xor,
    train_test_split,
)
from tinytorch.core.dense import MLP, Sequential
from tinytorch.core.layers import Linear
from tinytorch.core.optimizers import SGD, Adam, StepLR
from tinytorch.core.spatial import Conv2d, Flatten, MaxPool2d
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import BCEWithLogitsLoss, CrossEntropyLoss, EarlyStopping, Trainer, accuracy


def _loaders(X: np.ndarray, y: np.ndarray, batch_size: int = 32) -> tuple[DataLoader, DataLoader, np.ndarray,
                                                                             np.ndarray]:
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_fraction=0.25, seed=0)
    train = DataLoader(TensorDataset(Xtr, ytr), batch_size=batch_size, shuffle=True, seed=0)
    test = DataLoader(TensorDataset(Xte, yte), batch_size=128)
    return train, test, Xte, yte


def test_mlp_learns_blobs_and_loss_falls() -> None:
    X, y = make_blobs(300, centers=3, dim=2, std=1.0, seed=0)
    train, test, Xte, yte = _loaders(X, y)
    model = MLP([2, 16, 3], rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model.parameters(), lr=0.05, momentum=0.9), CrossEntropyLoss())
    history = trainer.fit(train, epochs=10, val_loader=test)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_accuracy[-1] >= 0.95  # measured 1.0
    assert accuracy(trainer.predict(Xte), yte) == history.val_accuracy[-1]


def test_mlp_solves_xor_with_bce_with_logits() -> None:
    X, y = make_xor(200, noise=0.1, seed=0)
    train, test, Xte, yte = _loaders(X, y.astype(np.float32), batch_size=16)
    model = MLP([2, 8, 1], rng=np.random.default_rng(0))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), BCEWithLogitsLoss())
    history = trainer.fit(train, epochs=15, val_loader=test)
    assert history.train_loss[-1] < 0.1 < history.train_loss[0]
    assert trainer.evaluate(test)["accuracy"] == 1.0
    assert accuracy(trainer.predict(Xte), yte, threshold=0.0) == 1.0


def test_spirals_with_adam_and_schedule() -> None:
    X, y = make_spirals(100, n_classes=3, noise=0.1, seed=0)
    train, test, _, _ = _loaders(X, y)
    model = MLP([2, 32, 32, 3], rng=np.random.default_rng(0))
    opt = Adam(model.parameters(), lr=0.02)
    trainer = Trainer(model, opt, CrossEntropyLoss(), scheduler=StepLR(opt, step_size=40, gamma=0.5))
    history = trainer.fit(train, epochs=60, val_loader=test)
    assert history.lr[0] == 0.02 and history.lr[-1] == 0.01
    assert history.train_loss[-1] < 0.25 * history.train_loss[0]
    assert history.val_accuracy[-1] >= 0.9  # measured 0.96; chance is 0.33


def test_early_stopping_stops_an_overfitting_run() -> None:
    """Tiny noisy training set, big model: validation loss turns up and training stops early."""
    X, y = make_blobs(80, centers=2, dim=2, std=3.0, seed=1)
    Xtr, Xval, ytr, yval = train_test_split(X, y, test_fraction=0.5, seed=0)
    model = MLP([2, 64, 64, 2], rng=np.random.default_rng(0))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    early = EarlyStopping(patience=5)
    history = trainer.fit(DataLoader(TensorDataset(Xtr, ytr), batch_size=8, shuffle=True),
                          epochs=200, val_loader=DataLoader(TensorDataset(Xval, yval), batch_size=64),
                          early_stopping=early)
    assert history.stopped_early and history.epochs < 200
    assert history.epochs == history.best_epoch + 1 + early.patience
    assert history.train_loss[-1] < history.train_loss[history.best_epoch]  # still fitting the training set
    # the best weights are restored
    assert np.isclose(trainer.evaluate(DataLoader(TensorDataset(Xval, yval)))["loss"], min(history.val_loss),
                      rtol=1e-5)


def _relu(x: Tensor) -> Tensor:
    return x.maximum(0.0)


def test_small_cnn_learns_make_shapes() -> None:
    """The image task promised to the CNN system test: >= 90% test accuracy with a small CNN."""
    X, y = make_shapes(400, size=12, noise=0.1, seed=0)
    train, test, Xte, yte = _loaders(X, y)
    rng = np.random.default_rng(0)
    model = Sequential(Conv2d(1, 8, 3, padding=1, rng=rng), _relu, MaxPool2d(2),
                       Conv2d(8, 16, 3, padding=1, rng=rng), _relu, MaxPool2d(2),
                       Flatten(), Linear(16 * 3 * 3, 4, rng=rng))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    history = trainer.fit(train, epochs=8, val_loader=test)
    assert history.val_accuracy[-1] >= 0.9  # measured 0.96; chance is 0.25
    assert accuracy(trainer.predict(Xte), yte) == history.val_accuracy[-1]
