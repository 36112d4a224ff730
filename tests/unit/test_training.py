"""Unit tests for tinytorch.core.training: losses (values, stability, gradients), metrics, early stopping, Trainer."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (losses are differentiable once autograd is loaded)
from tinytorch.core.autograd import check_gradients, numerical_gradient
from tinytorch.core.dataloader import DataLoader, TensorDataset
from tinytorch.core.layers import Linear, Module
from tinytorch.core.optimizers import SGD, StepLR
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    EarlyStopping,
    History,
    MSELoss,
    Trainer,
    accuracy,
)

_RNG = np.random.default_rng(0)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


# ---- loss values ---------------------------------------------------------------------

def test_mse_value_and_target_reshape() -> None:
    pred = Tensor(np.array([[1.0], [2.0], [4.0]]))
    target = np.array([1.0, 0.0, 2.0])  # (3,) against (3, 1): reshaped, never broadcast to (3, 3)
    assert np.isclose(MSELoss()(pred, target).item(), (0 + 4 + 4) / 3)


def test_cross_entropy_matches_reference() -> None:
    z = _RNG.normal(size=(5, 4))
    y = np.array([0, 3, 1, 1, 2])
    expected = -_log_softmax(z)[np.arange(5), y].mean()
    assert np.isclose(CrossEntropyLoss()(Tensor(z), y).item(), expected)
    assert np.isclose(CrossEntropyLoss()(Tensor(z), Tensor(y)).item(), expected)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    z = Tensor(np.array([[1e4, 0.0, -1e4], [500.0, 500.0, 0.0]], dtype=np.float32))
    loss = CrossEntropyLoss()(z, np.array([1, 0])).item()
    assert np.isfinite(loss) and np.isclose(loss, (1e4 + np.log(2)) / 2, rtol=1e-5)


def test_cross_entropy_accepts_sequence_logits() -> None:
    z = _RNG.normal(size=(2, 3, 5))
    y = np.array([[0, 1, 2], [4, 3, 2]])
    expected = -_log_softmax(z.reshape(6, 5))[np.arange(6), y.reshape(6)].mean()
    assert np.isclose(CrossEntropyLoss()(Tensor(z), y).item(), expected)


def test_bce_matches_reference_and_clips() -> None:
    p = np.array([0.9, 0.2, 0.5])
    t = np.array([1.0, 0.0, 1.0])
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert np.isclose(BCELoss()(Tensor(p), t).item(), expected)
    extreme = BCELoss(eps=1e-7)(Tensor(np.array([0.0, 1.0])), np.array([1.0, 0.0])).item()
    assert np.isfinite(extreme) and np.isclose(extreme, -np.log(1e-7), rtol=1e-5)


def test_bce_with_logits_matches_bce_of_sigmoid_and_is_stable() -> None:
    x = np.array([-3.0, -0.5, 0.7, 2.0])
    t = np.array([0.0, 1.0, 1.0, 0.0])
    p = 1 / (1 + np.exp(-x))
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert np.isclose(BCEWithLogitsLoss()(Tensor(x), t).item(), expected)
    big = BCEWithLogitsLoss()(Tensor(np.array([[1000.0], [-1000.0]])), np.array([0.0, 1.0])).item()
    assert np.isclose(big, 1000.0)


# ---- loss gradients (checked numerically) ---------------------------------------------

def test_mse_gradient() -> None:
    target = _RNG.normal(size=(4, 2))
    assert check_gradients(lambda p: MSELoss()(p, target), [Tensor(_RNG.normal(size=(4, 2)))])


def test_cross_entropy_gradient_is_softmax_minus_onehot() -> None:
    z = Tensor(_RNG.normal(size=(3, 4)), requires_grad=True)
    y = np.array([2, 0, 3])
    CrossEntropyLoss()(z, y).backward()
    probs = np.exp(_log_softmax(z.data))
    expected = (probs - np.eye(4)[y]) / 3
    assert np.allclose(z.grad.data, expected)
    numeric = numerical_gradient(lambda t: CrossEntropyLoss()(t, y), Tensor(z.data.copy()))
    assert np.allclose(z.grad.data, numeric, atol=1e-6)


def test_cross_entropy_gradient_with_large_logits() -> None:
    z = _RNG.normal(size=(3, 5)) * 30
    assert check_gradients(lambda t: CrossEntropyLoss()(t, np.array([1, 4, 0])), [Tensor(z)])


def test_bce_gradients() -> None:
    t = np.array([1.0, 0.0, 1.0, 0.0])
    probs = Tensor(np.array([0.2, 0.4, 0.7, 0.9]))
    assert check_gradients(lambda p: BCELoss()(p, t), [probs])
    logits = Tensor(np.array([-2.3, -0.4, 0.6, 3.1]))
    assert check_gradients(lambda x: BCEWithLogitsLoss()(x, t), [logits])


def test_losses_train_a_linear_layer() -> None:
    model = Linear(3, 2, rng=np.random.default_rng(1))
    x = Tensor(_RNG.normal(size=(6, 3)).astype(np.float32))
    CrossEntropyLoss()(model(x), np.array([0, 1, 1, 0, 1, 0])).backward()
    assert model.weight.grad is not None and model.weight.grad.shape == (3, 2)


# ---- loss errors ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0, 3])), ValueError,
         "label 3 out of range for 3 classes"),
        (lambda: CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([-1, 0])), ValueError, "label -1 out of range"),
        (lambda: CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0, 1, 2])), ValueError, "3 labels"),
        (lambda: CrossEntropyLoss()(Tensor(np.zeros((2, 3))), np.array([0.5, 1.0])), TypeError, "integer class labels"),
        (lambda: CrossEntropyLoss()(Tensor(np.zeros(3)), np.array([0])), ValueError, r"shape \(N, C\)"),
        (lambda: MSELoss()(Tensor(np.zeros((2, 2))), np.zeros(3)), ValueError, "does not match prediction shape"),
        (lambda: BCELoss()(Tensor(np.full(2, 0.5)), np.array([0.0, 2.0])), ValueError, r"targets must lie in \[0, 1\]"),
        (lambda: BCEWithLogitsLoss()(Tensor(np.zeros(2)), np.array([-1.0, 0.0])), ValueError, "targets must lie"),
        (lambda: BCELoss(eps=0.0), ValueError, r"eps must be in \(0, 0.5\)"),
    ],
)
def test_loss_errors(call, exc: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(exc, match=match):
        call()


# ---- accuracy ------------------------------------------------------------------------

def test_accuracy_variants() -> None:
    assert accuracy(Tensor(np.array([[0.1, 0.9], [0.8, 0.2]])), Tensor(np.array([1, 1]))) == 0.5
    assert accuracy(np.array([[0.7], [0.3], [0.6]]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert accuracy(np.array([3.0, -2.0]), np.array([1, 0])) == 1.0
    assert accuracy(np.array([0.4, 0.6]), np.array([1, 1]), threshold=0.0) == 1.0


@pytest.mark.parametrize(
    ("out", "labels", "match"),
    [(np.zeros((3, 2)), np.zeros(2), "3 predictions for 2 labels"), (np.zeros((0, 2)), np.zeros(0), "empty")],
)
def test_accuracy_errors(out: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        accuracy(out, labels)


# ---- early stopping ------------------------------------------------------------------

def test_early_stopping_patience_and_min_delta() -> None:
    es = EarlyStopping(patience=2, min_delta=0.1)
    # 0.95 is not an improvement over 1.0 by more than 0.1
    assert [es.step(v) for v in [1.0, 0.95, 0.85, 0.84, 0.8]] == [False, False, False, False, True]
    assert es.best == 0.85 and es.best_epoch == 2 and es.should_stop


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"patience": 0}, "patience must be >= 1"), ({"min_delta": -1.0}, "min_delta must be >= 0")]
)
def test_early_stopping_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EarlyStopping(**kwargs)


# ---- Trainer -------------------------------------------------------------------------

def _regression(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    return X, (X @ np.array([[2.0], [-1.0]], dtype=np.float32) + 0.5).astype(np.float32)


def test_trainer_fits_linear_regression() -> None:
    X, Y = _regression()
    model = Linear(2, 1, rng=np.random.default_rng(0))
    opt = SGD(model.parameters(), lr=0.1)
    trainer = Trainer(model, opt, MSELoss(), scheduler=StepLR(opt, step_size=10, gamma=0.5))
    loader = DataLoader(TensorDataset(X, Y), batch_size=16, shuffle=True)
    history = trainer.fit(loader, epochs=15, val_loader=DataLoader(TensorDataset(X, Y), batch_size=64))
    assert isinstance(history, History) and history.epochs == 15 and len(history.val_loss) == 15
    assert history.val_accuracy == [] and history.lr[0] == 0.1 and history.lr[-1] == 0.05
    assert history.train_loss[-1] < 1e-4 < history.train_loss[0]
    assert np.allclose(model.weight.data.ravel(), [2.0, -1.0], atol=1e-2)
    assert trainer.evaluate(DataLoader(TensorDataset(X, Y)))["loss"] < 1e-4


def test_train_epoch_returns_mean_per_example_loss() -> None:
    X, Y = _regression(10)
    model = Linear(2, 1, rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model.parameters(), lr=0.0), MSELoss())
    epoch_loss = trainer.train_epoch(DataLoader(TensorDataset(X, Y), batch_size=4))  # batches 4, 4, 2
    assert np.isclose(epoch_loss, MSELoss()(model(Tensor(X)), Y).item(), rtol=1e-5)


def test_evaluate_classification_and_no_graph() -> None:
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 1])
    model = Linear(2, 2, rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model.parameters()), CrossEntropyLoss())
    metrics = trainer.evaluate(DataLoader(TensorDataset(X, y), batch_size=2))
    logits = model(Tensor(X))
    assert set(metrics) == {"loss", "accuracy"}
    assert np.isclose(metrics["loss"], CrossEntropyLoss()(logits, y).item(), rtol=1e-5)
    assert metrics["accuracy"] == accuracy(logits, y)
    assert not model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())


class _Recorder(Module):
    """Linear layer that remembers whether its last output was recorded for backward."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = Linear(2, 1, rng=np.random.default_rng(0))
        self.tracked: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        out = self.lin(x)
        self.tracked.append(out.requires_grad)
        return out


def test_evaluate_and_predict_record_no_graph_but_training_does() -> None:
    X, Y = _regression(8)
    model = _Recorder()
    trainer = Trainer(model, SGD(model.parameters()), MSELoss())
    loader = DataLoader(TensorDataset(X, Y), batch_size=8)
    trainer.train_epoch(loader)
    trainer.evaluate(loader)
    trainer.predict(X)
    assert model.tracked == [True, False, False]


def test_predict_in_batches_matches_forward() -> None:
    X, _ = _regression(10)
    model = Linear(2, 3, rng=np.random.default_rng(0))
    out = Trainer(model, SGD(model.parameters()), MSELoss()).predict(X, batch_size=3)
    assert out.shape == (10, 3) and np.allclose(out, model(Tensor(X)).numpy())


class _Memorizer(Module):
    """A model whose validation loss gets worse as it trains: early stopping must fire."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = Linear(1, 1, rng=np.random.default_rng(0))

    def forward(self, x: Tensor) -> Tensor:
        return self.lin(x)


def test_early_stopping_stops_and_restores_best_weights() -> None:
    X = np.ones((8, 1), dtype=np.float32)
    model = _Memorizer()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.05), MSELoss())
    train = DataLoader(TensorDataset(X, np.full((8, 1), 5.0, dtype=np.float32)), batch_size=8)
    val = DataLoader(TensorDataset(X, np.full((8, 1), 0.0, dtype=np.float32)), batch_size=8)
    history = trainer.fit(train, epochs=50, val_loader=val, early_stopping=EarlyStopping(patience=3))
    assert history.stopped_early and history.epochs < 50
    best = history.best_epoch
    assert best is not None and history.val_loss[best] == min(history.val_loss)
    assert np.isclose(trainer.evaluate(val)["loss"], history.val_loss[best], rtol=1e-5)


def test_nan_loss_raises() -> None:
    X = np.ones((4, 1), dtype=np.float32)
    model = Linear(1, 1, rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model.parameters()), lambda out, y: (out - y).sum() * 0.0 + float("nan"))
    with pytest.raises(FloatingPointError, match="loss is nan at batch 0: lower the learning rate"):
        trainer.train_epoch(DataLoader(TensorDataset(X, np.zeros((4, 1), dtype=np.float32))))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda t, d: t.fit(d, epochs=-1), ValueError, "epochs must be >= 0"),
        (lambda t, d: t.predict(np.zeros((2, 2)), batch_size=0), ValueError, "batch_size must be >= 1"),
        (lambda t, d: t.train_epoch(DataLoader(TensorDataset(np.zeros((1, 2))), batch_size=2, drop_last=True)),
         ValueError, "no batches"),
    ],
)
def test_trainer_errors(call, exc: type[Exception], match: str) -> None:  # type: ignore[no-untyped-def]
    model = Linear(2, 1, rng=np.random.default_rng(0))
    trainer = Trainer(model, SGD(model.parameters()), MSELoss())
    data = DataLoader(TensorDataset(np.zeros((4, 2), dtype=np.float32), np.zeros((4, 1), dtype=np.float32)))
    with pytest.raises(exc, match=match):
        call(trainer, data)


def test_trainer_rejects_non_callable_loss() -> None:
    model = Linear(2, 1)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        Trainer(model, SGD(model.parameters()), "mse")  # type: ignore[arg-type]
