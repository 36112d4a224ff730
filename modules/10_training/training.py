# %% [markdown]
# # Training
# > Loss functions, metrics, early stopping and a Trainer that runs the training loop.
#
# Every training run in deep learning is the same five lines, repeated for each batch:
#
# ```
# optimizer.zero_grad()          # forget the previous batch's gradients
# out = model(x)                 # forward pass: builds the autograd graph
# loss = loss_fn(out, y)         # one number saying how wrong the model is
# loss.backward()                # gradients of the loss for every parameter
# optimizer.step()               # move the parameters against the gradients
# ```
#
# This chapter supplies the missing pieces: **losses** (MSE, cross-entropy, binary
# cross-entropy), an **accuracy** metric, **early stopping**, and a `Trainer` that
# wraps the loop with evaluation and a per-epoch `History`.
#
# The losses are built only from `Tensor` methods (`exp`, `log`, `sum`, `mean`, `max`,
# `clip`...). This module does not import autograd: by the time anything trains, the
# optimizers module has imported it and every Tensor op records its backward function,
# so the losses are differentiable for free.
#
# **The systems angle.** A naive cross-entropy `-log(softmax(z)[y])` overflows as soon as
# a logit exceeds ~88 in float32 (`exp(89) = inf`), and `log(0)` appears when a
# probability underflows. Real frameworks never compute a softmax and then its log: they
# fuse both with the log-sum-exp trick (`torch.nn.functional.cross_entropy` is
# `log_softmax` + `nll_loss`, and `BCEWithLogitsLoss` exists for the same reason). A
# second cost is memory: during training the graph keeps every intermediate activation
# alive until `backward()`; evaluation needs none of it, which is what PyTorch's
# `torch.no_grad()` is for. Our `Trainer.evaluate` gets the same effect by temporarily
# marking the parameters as not requiring gradients, so no graph is recorded.

# %%
#| default_exp core.training

# %%
#| export
from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tinytorch.core.dataloader import DataLoader
from tinytorch.core.layers import Module
from tinytorch.core.optimizers import LRScheduler, Optimizer
from tinytorch.core.tensor import Tensor

# %% [markdown]
# ## Regression: mean squared error
#
# `MSE = mean((pred - target)**2)`. One trap deserves an error message: predictions of shape
# `(n, 1)` minus targets of shape `(n,)` *broadcast* to `(n, n)`, a silently wrong loss.
# When the two have the same number of elements we reshape the target to the prediction's
# shape; otherwise we refuse.

# %%
#| export
def _as_tensor(x: Any) -> Tensor:
    ### BEGIN SOLUTION
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))
    ### END SOLUTION


def _float_dtype(pred: Tensor) -> Any:
    ### BEGIN SOLUTION
    return pred.dtype if np.issubdtype(pred.dtype, np.floating) else np.float32
    ### END SOLUTION


def _match_target(pred: Tensor, target: Any, name: str) -> np.ndarray:
    """Target values as a float array with exactly `pred`'s shape (no accidental broadcasting)."""
    ### BEGIN SOLUTION
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.shape != pred.shape:
        if t.size != int(np.prod(pred.shape)):
            raise ValueError(f"{name}: target shape {t.shape} does not match prediction shape {pred.shape}")
        t = t.reshape(pred.shape)
    return t.astype(_float_dtype(pred))
    ### END SOLUTION


class MSELoss:
    """Mean squared error between predictions and targets."""

    def __call__(self, pred: Tensor, target: Any) -> Tensor:
        ### BEGIN SOLUTION
        pred = _as_tensor(pred)
        t = _match_target(pred, target, "MSELoss")
        return ((pred - t) ** 2).mean()
        ### END SOLUTION

    def __repr__(self) -> str:
        return "MSELoss()"

# %%
_pred = Tensor(np.array([[1.0], [3.0]]))
assert np.isclose(MSELoss()(_pred, np.array([0.0, 1.0])).item(), (1 + 4) / 2)

# %% [markdown]
# ## Classification: cross-entropy with log-sum-exp
#
# For logits `z` (one row per example, `C` columns) and integer labels `y`:
#
# ```
# log_softmax(z)_j = z_j - log(sum_k exp(z_k))
#                  = (z_j - m) - log(sum_k exp(z_k - m))     for any m; we take m = max_k z_k
# CE = -mean_i log_softmax(z_i)_{y_i}
# ```
#
# Subtracting the row maximum makes the largest exponent `exp(0) = 1`: nothing overflows and
# the sum is at least 1, so its log is finite. The shift `m` cancels mathematically, so we
# treat it as a constant (a plain array, no gradient). The label's log-probability is picked
# with a one-hot mask, whose gradient is the familiar `softmax(z) - onehot(y)` per example.
#
# Logits may have extra leading dimensions (a language model's `(B, T, V)`): they are
# flattened to `(B*T, V)` rows.

# %%
#| export
def _check_labels(labels: Any, n_rows: int, n_classes: int, lead_shape: tuple[int, ...]) -> np.ndarray:
    """Integer class labels, flattened to (n_rows,), each in [0, n_classes)."""
    ### BEGIN SOLUTION
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise TypeError(f"CrossEntropyLoss expects integer class labels, got dtype {y.dtype}")
    if y.size != n_rows:
        raise ValueError(f"CrossEntropyLoss: {y.size} labels for logits of leading shape {lead_shape}")
    y = y.reshape(n_rows)
    if n_rows and (y.min() < 0 or y.max() >= n_classes):
        bad = int(y[(y < 0) | (y >= n_classes)][0])
        raise ValueError(f"CrossEntropyLoss: label {bad} out of range for {n_classes} classes")
    return y
    ### END SOLUTION


class CrossEntropyLoss:
    """Softmax cross-entropy from raw logits (..., C) and integer labels (...), numerically stable."""

    def __call__(self, logits: Tensor, labels: Any) -> Tensor:
        ### BEGIN SOLUTION
        logits = _as_tensor(logits)
        if logits.ndim < 2:
            raise ValueError(f"CrossEntropyLoss expects logits of shape (N, C), got {logits.shape}")
        n_classes = logits.shape[-1]
        n_rows = int(np.prod(logits.shape[:-1]))
        y = _check_labels(labels, n_rows, n_classes, logits.shape[:-1])
        z = logits.reshape(n_rows, n_classes) if logits.ndim > 2 else logits
        shift = np.max(z.data, axis=1, keepdims=True)  # a constant: it cancels in the maths
        shifted = z - shift
        log_probs = shifted - shifted.exp().sum(axis=1, keepdims=True).log()
        onehot = np.zeros((n_rows, n_classes), dtype=_float_dtype(z))
        onehot[np.arange(n_rows), y] = 1.0
        return -(log_probs * onehot).sum() / max(n_rows, 1)
        ### END SOLUTION

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"

# %%
_z = Tensor(np.array([[1000.0, 0.0], [0.0, 0.0]]))   # exp(1000) would overflow
assert np.isclose(CrossEntropyLoss()(_z, np.array([0, 1])).item(), (0.0 + np.log(2)) / 2)

# %% [markdown]
# ## Binary cross-entropy
#
# For one probability `p` per example and a target `t` in `[0, 1]`:
# `BCE = -mean(t log p + (1 - t) log(1 - p))`. A sigmoid output can round to exactly 0 or 1
# in float32, so `BCELoss` clips `p` into `[eps, 1 - eps]` first (PyTorch clamps the log at
# -100 for the same reason).
#
# Better: never form `p`. `BCEWithLogitsLoss` takes the logit `x` and uses the identity
#
# ```
# -t log sigmoid(x) - (1 - t) log(1 - sigmoid(x)) = max(x, 0) - x t + log(1 + exp(-|x|))
# ```
#
# where the exponent is never positive, so it cannot overflow.

# %%
#| export
def _check_targets(t: np.ndarray, name: str) -> None:
    ### BEGIN SOLUTION
    if t.size and (t.min() < 0.0 or t.max() > 1.0):
        raise ValueError(f"{name}: targets must lie in [0, 1], got values in [{t.min()}, {t.max()}]")
    ### END SOLUTION


class BCELoss:
    """Binary cross-entropy on probabilities, clipped to `[eps, 1 - eps]` to avoid log(0)."""

    def __init__(self, eps: float = 1e-7) -> None:
        if not 0.0 < eps < 0.5:
            raise ValueError(f"eps must be in (0, 0.5), got {eps}")
        self.eps = eps

    def __call__(self, probs: Tensor, target: Any) -> Tensor:
        ### BEGIN SOLUTION
        probs = _as_tensor(probs)
        t = _match_target(probs, target, "BCELoss")
        _check_targets(t, "BCELoss")
        p = probs.clip(self.eps, 1.0 - self.eps)
        return -(p.log() * t + (1.0 - p).log() * (1.0 - t)).mean()
        ### END SOLUTION

    def __repr__(self) -> str:
        return f"BCELoss(eps={self.eps})"


class BCEWithLogitsLoss:
    """Binary cross-entropy on logits: `max(x, 0) - x t + log(1 + exp(-|x|))`, stable for any x."""

    def __call__(self, logits: Tensor, target: Any) -> Tensor:
        ### BEGIN SOLUTION
        x = _as_tensor(logits)
        t = _match_target(x, target, "BCEWithLogitsLoss")
        _check_targets(t, "BCEWithLogitsLoss")
        return (x.maximum(0.0) - x * t + ((-x.abs()).exp() + 1.0).log()).mean()
        ### END SOLUTION

    def __repr__(self) -> str:
        return "BCEWithLogitsLoss()"

# %%
_x = np.array([-200.0, 0.5, 300.0])
_t = np.array([0.0, 1.0, 1.0])
_ref = np.log1p(np.exp(-0.5))  # only the middle example costs anything
assert np.isclose(BCEWithLogitsLoss()(Tensor(_x), _t).item(), _ref / 3)
assert np.isclose(BCELoss()(Tensor(np.array([0.0, 1.0])), np.array([0.0, 1.0])).item(), -np.log(1 - 1e-7))

# %% [markdown]
# ## Accuracy
#
# `accuracy` takes the model's raw output. With several columns the prediction is the
# `argmax` (the same for logits and probabilities, since softmax is monotonic). With one
# column (or a 1-D output) it is a binary decision: threshold 0.5 for probabilities, 0 for
# logits. By default the threshold is guessed (0.5 if every value lies in `[0, 1]`, else 0);
# pass `threshold=` to be explicit.

# %%
#| export
def accuracy(logits_or_probs: Any, labels: Any, threshold: float | None = None) -> float:
    """Fraction of correct predictions: argmax for (N, C) outputs, a threshold for (N,) or (N, 1)."""
    ### BEGIN SOLUTION
    out = np.asarray(logits_or_probs.data if isinstance(logits_or_probs, Tensor) else logits_or_probs)
    y = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if out.ndim >= 2 and out.shape[-1] > 1:
        pred = out.argmax(axis=-1)
    else:
        if threshold is None:
            threshold = 0.5 if out.size and out.min() >= 0.0 and out.max() <= 1.0 else 0.0
        pred = (out > threshold).astype(np.int64)
        if out.ndim >= 2:
            pred = pred[..., 0]
    if pred.size != y.size:
        raise ValueError(f"accuracy: {pred.size} predictions for {y.size} labels")
    if y.size == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return float(np.mean(pred.reshape(-1) == y.reshape(-1)))
    ### END SOLUTION

# %%
assert accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), np.array([0, 1, 1])) == 2 / 3
assert accuracy(np.array([[0.9], [0.2]]), np.array([1, 0])) == 1.0
assert accuracy(np.array([-3.0, 2.0]), np.array([0, 1])) == 1.0  # logits: threshold 0

# %% [markdown]
# ## Early stopping
#
# Validation loss usually falls, flattens, then rises as the model starts to memorise the
# training set. `EarlyStopping` watches a value to minimise: an improvement is a drop by more
# than `min_delta`; after `patience` epochs without one, `step()` returns True. It also
# remembers the best epoch so the `Trainer` can restore the best weights.

# %%
#| export
class EarlyStopping:
    """Stop when a monitored value (lower is better) has not improved for `patience` steps."""

    def __init__(self, patience: int = 5, min_delta: float = 0.0, restore_best: bool = True) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta}")
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.best = math.inf
        self.best_epoch = -1
        self.bad_epochs = 0
        self.should_stop = False
        self._epoch = -1

    def step(self, value: float) -> bool:
        """Record one epoch's value; return True when training should stop."""
        ### BEGIN SOLUTION
        self._epoch += 1
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.bad_epochs = float(value), self._epoch, 0
        else:
            self.bad_epochs += 1
        self.should_stop = self.bad_epochs >= self.patience
        return self.should_stop
        ### END SOLUTION

    @property
    def improved(self) -> bool:
        """Whether the last `step()` was a new best."""
        return self.best_epoch == self._epoch

    __call__ = step

# %%
_es = EarlyStopping(patience=2)
assert [_es.step(v) for v in [1.0, 0.5, 0.6, 0.7, 0.4]] == [False, False, False, True, False]
assert _es.best == 0.4 and _es.best_epoch == 4

# %% [markdown]
# ## The Trainer
#
# `Trainer` is the loop from the top of the chapter plus bookkeeping:
#
# * `train_epoch(loader)` puts the model in training mode (dropout on), runs one pass and
#   returns the mean loss per example (batches weighted by their size, so a short last batch
#   counts less). A NaN or infinite loss stops with an error that suggests the usual cause.
# * `evaluate(loader)` runs in eval mode without recording a graph and returns
#   `{"loss": ..., "accuracy": ...}` (accuracy only for classification losses).
# * `fit(...)` alternates the two, steps the scheduler once per epoch, consults early
#   stopping (on the validation loss, or the training loss without a validation set) and
#   returns a `History` of per-epoch numbers.
# * `predict(X)` returns the model's raw outputs (logits for a classifier) as a numpy array,
#   computed in batches so a large `X` never needs one huge activation matrix.

# %%
#| export
@dataclass
class History:
    """Per-epoch record of a `Trainer.fit` run."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)


@contextmanager
def _no_graph(model: Module) -> Iterator[None]:
    """Evaluate without recording a graph: parameters temporarily do not require gradients."""
    ### BEGIN SOLUTION
    params = model.parameters()
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad = flag
    ### END SOLUTION


def _binary_threshold(loss_fn: Callable[..., Tensor]) -> float | None:
    ### BEGIN SOLUTION
    if isinstance(loss_fn, BCEWithLogitsLoss):
        return 0.0
    if isinstance(loss_fn, BCELoss):
        return 0.5
    return None
    ### END SOLUTION


class Trainer:
    """Runs training epochs, evaluation and prediction for a model, optimizer and loss."""

    def __init__(self, model: Module, optimizer: Optimizer, loss_fn: Callable[..., Tensor],
                 scheduler: LRScheduler | None = None) -> None:
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.scheduler = scheduler

    def train_epoch(self, loader: DataLoader) -> float:
        """One pass over `loader` with parameter updates; returns the mean loss per example."""
        ### BEGIN SOLUTION
        self.model.train()
        total, count = 0.0, 0
        for b, (x, y) in enumerate(loader):
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(x), y)
            value = loss.item()
            if not math.isfinite(value):
                raise FloatingPointError(f"loss is {value} at batch {b}: lower the learning rate or check the data")
            loss.backward()
            self.optimizer.step()
            total += value * len(x)
            count += len(x)
        if count == 0:
            raise ValueError("train_epoch: the loader yielded no batches")
        return total / count
        ### END SOLUTION

    def evaluate(self, loader: DataLoader) -> dict[str, float]:
        """Mean loss (and accuracy for classification losses) over `loader`, in eval mode."""
        ### BEGIN SOLUTION
        self.model.eval()
        classify = isinstance(self.loss_fn, (CrossEntropyLoss, BCELoss, BCEWithLogitsLoss))
        total, correct, count = 0.0, 0.0, 0
        with _no_graph(self.model):
            for x, y in loader:
                out = self.model(x)
                total += self.loss_fn(out, y).item() * len(x)
                if classify:
                    correct += accuracy(out, y, _binary_threshold(self.loss_fn)) * len(x)
                count += len(x)
        if count == 0:
            raise ValueError("evaluate: the loader yielded no batches")
        result = {"loss": total / count}
        if classify:
            result["accuracy"] = correct / count
        return result
        ### END SOLUTION

    def fit(self, train_loader: DataLoader, epochs: int, val_loader: DataLoader | None = None,
            early_stopping: EarlyStopping | None = None) -> History:
        """Train for up to `epochs` epochs; returns the per-epoch `History`."""
        ### BEGIN SOLUTION
        if epochs < 0:
            raise ValueError(f"epochs must be >= 0, got {epochs}")
        history = History()
        best_state: dict[str, np.ndarray] | None = None
        for _ in range(epochs):
            history.lr.append(self.optimizer.lr)
            history.train_loss.append(self.train_epoch(train_loader))
            monitored = history.train_loss[-1]
            if val_loader is not None:
                metrics = self.evaluate(val_loader)
                history.val_loss.append(metrics["loss"])
                if "accuracy" in metrics:
                    history.val_accuracy.append(metrics["accuracy"])
                monitored = metrics["loss"]
            if self.scheduler is not None:
                self.scheduler.step()
            if early_stopping is not None:
                stop = early_stopping.step(monitored)
                if early_stopping.improved:
                    history.best_epoch = early_stopping.best_epoch
                    if early_stopping.restore_best:
                        best_state = self.model.state_dict()
                if stop:
                    history.stopped_early = True
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return history
        ### END SOLUTION

    def predict(self, X: Any, batch_size: int = 256) -> np.ndarray:
        """The model's raw outputs for `X` (e.g. logits), computed in eval mode in batches."""
        ### BEGIN SOLUTION
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        data = np.asarray(X.data if isinstance(X, Tensor) else X)
        self.model.eval()
        outs = []
        with _no_graph(self.model):
            for start in range(0, len(data), batch_size):
                outs.append(self.model(Tensor(data[start : start + batch_size])).numpy())
        if not outs:
            raise ValueError("predict: X is empty")
        return np.concatenate(outs, axis=0)
        ### END SOLUTION

# %%
from tinytorch.core.dataloader import TensorDataset
from tinytorch.core.layers import Linear
from tinytorch.core.optimizers import SGD

_rng = np.random.default_rng(0)
_X = _rng.standard_normal((64, 3)).astype(np.float32)
_Y = _X @ np.array([[1.0], [-2.0], [0.5]], dtype=np.float32) + 0.3
_model = Linear(3, 1, rng=_rng)
_trainer = Trainer(_model, SGD(_model.parameters(), lr=0.1), MSELoss())
_hist = _trainer.fit(DataLoader(TensorDataset(_X, _Y), batch_size=16, shuffle=True), epochs=20)
assert _hist.train_loss[-1] < 1e-3 < _hist.train_loss[0]
assert _trainer.predict(_X).shape == (64, 1)
