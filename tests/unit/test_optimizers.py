"""Unit tests for tinytorch.core.optimizers: update rules vs reference formulas, schedules, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinytorch.core.autograd  # noqa: F401  (gradients for the end-to-end checks)
from tinytorch.core.optimizers import SGD, Adam, AdamW, CosineLR, Optimizer, StepLR, WarmupLR
from tinytorch.core.tensor import Tensor

_GRADS = [np.array([0.5, -1.0, 2.0]), np.array([0.1, 0.3, -0.2]), np.array([-1.5, 0.0, 0.7])]
_W0 = np.array([1.0, -2.0, 0.5])


def _run(opt_cls: type[Optimizer], **kwargs: float) -> np.ndarray:
    """Apply the gradients in _GRADS to a copy of _W0 and return the trajectory of weights."""
    w = Tensor(_W0.copy(), requires_grad=True)
    opt = opt_cls([w], **kwargs)
    path = []
    for g in _GRADS:
        opt.zero_grad()
        w.grad = Tensor(g.copy())
        opt.step()
        path.append(w.data.copy())
    return np.array(path)


def _ref_sgd(lr: float, momentum: float = 0.0, wd: float = 0.0) -> np.ndarray:
    w, buf, path = _W0.copy(), None, []
    for g in _GRADS:
        d = g + wd * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = buf
        w = w - lr * d
        path.append(w.copy())
    return np.array(path)


def _ref_adam(lr: float, b1: float, b2: float, eps: float, wd: float, decoupled: bool) -> np.ndarray:
    w, m, v, path = _W0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(_GRADS, start=1):
        if decoupled:
            w = w * (1 - lr * wd)
        else:
            g = g + wd * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        path.append(w.copy())
    return np.array(path)


# ---- update rules --------------------------------------------------------------------

@pytest.mark.parametrize(("momentum", "wd"), [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.8, 0.05)])
def test_sgd_matches_pytorch_formula(momentum: float, wd: float) -> None:
    got = _run(SGD, lr=0.1, momentum=momentum, weight_decay=wd)
    assert np.allclose(got, _ref_sgd(0.1, momentum, wd))


def test_plain_sgd_single_step() -> None:
    assert np.allclose(_run(SGD, lr=0.5)[0], _W0 - 0.5 * _GRADS[0])


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adam_matches_reference(wd: float) -> None:
    got = _run(Adam, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    assert np.allclose(got, _ref_adam(0.01, 0.9, 0.99, 1e-8, wd, decoupled=False))


def test_adam_first_step_is_lr_times_sign() -> None:
    """Bias correction makes the first step +-lr whatever the gradient's scale."""
    step = _W0 - _run(Adam, lr=0.01)[0]
    assert np.allclose(step, 0.01 * np.sign(_GRADS[0]), atol=1e-7)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_adamw_matches_reference(wd: float) -> None:
    got = _run(AdamW, lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=wd)
    assert np.allclose(got, _ref_adam(0.01, 0.9, 0.99, 1e-8, wd, decoupled=True))


def test_adamw_decay_is_decoupled_from_adam_decay() -> None:
    adam = _run(Adam, lr=0.01, weight_decay=0.1)
    adamw = _run(AdamW, lr=0.01, weight_decay=0.1)
    assert not np.allclose(adam, adamw)
    assert AdamW([Tensor(np.zeros(1), requires_grad=True)]).weight_decay == 0.01  # PyTorch's default


def test_adamw_with_zero_gradient_only_decays() -> None:
    w = Tensor(np.array([2.0, -4.0]), requires_grad=True)
    opt = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = Tensor(np.zeros(2))
    opt.step()
    assert np.allclose(w.data, np.array([2.0, -4.0]) * (1 - 0.1 * 0.5))


def test_parameters_without_grad_are_skipped_and_dtype_kept() -> None:
    a = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = Tensor(np.ones(2, dtype=np.float32))
    data_before = a.data
    opt.step()
    assert np.allclose(a.data, 0.9) and np.array_equal(b.data, np.ones(2))
    assert a.data is data_before and a.dtype == np.float32  # updated in place


def test_zero_grad_clears_all_grads() -> None:
    ps = [Tensor(np.ones(2), requires_grad=True) for _ in range(2)]
    for p in ps:
        p.grad = Tensor(np.ones(2))
    SGD(ps).zero_grad()
    assert all(p.grad is None for p in ps)


def test_duplicate_params_are_updated_once() -> None:
    w = Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([w, w], lr=1.0)
    w.grad = Tensor(np.ones(1))
    opt.step()
    assert w.data.tolist() == [-1.0] and len(opt.params) == 1


def test_prune_mask_is_respected() -> None:
    w = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    w._prune_mask = np.array([False, True])  # type: ignore[attr-defined]
    opt = SGD([w], lr=1.0, momentum=0.9)
    for _ in range(2):
        w.grad = Tensor(np.array([1.0, 1.0]))
        opt.step()
    assert w.data[0] == 0.0 and w.data[1] < 0


def test_state_memory() -> None:
    ps = [Tensor(np.zeros((10, 10), dtype=np.float32), requires_grad=True), Tensor(np.zeros(10, dtype=np.float32),
                                                                                    requires_grad=True)]
    nbytes = sum(p.data.nbytes for p in ps)
    for p in ps:
        p.grad = Tensor(np.ones(p.shape, dtype=np.float32))
    sgd, mom, adam = SGD(ps), SGD(ps, momentum=0.9), Adam(ps)
    for opt in (sgd, mom, adam):
        opt.step()
    assert (sgd.state_nbytes(), mom.state_nbytes(), adam.state_nbytes()) == (0, nbytes, 2 * nbytes)


def test_gradient_shape_mismatch_is_an_error() -> None:
    w = Tensor(np.zeros(3), requires_grad=True)
    opt = SGD([w])
    w.grad = Tensor(np.zeros(4))
    with pytest.raises(ValueError, match=r"gradient shape \(4,\) does not match parameter shape \(3,\)"):
        opt.step()


def test_minimises_a_quadratic_with_autograd() -> None:
    target = np.array([3.0, -1.0])
    for opt_cls, kwargs in [(SGD, {"lr": 0.1, "momentum": 0.9}), (Adam, {"lr": 0.1})]:
        w = Tensor(np.zeros(2), requires_grad=True)
        opt = opt_cls([w], **kwargs)
        for _ in range(200):
            opt.zero_grad()
            ((w - target) ** 2).sum().backward()
            opt.step()
        assert np.allclose(w.data, target, atol=1e-3), opt_cls.__name__


# ---- errors --------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda ps: SGD(ps, lr=-0.1), "invalid learning rate lr: -0.1"),
        (lambda ps: SGD(ps, lr=float("nan")), "invalid learning rate"),
        (lambda ps: SGD(ps, momentum=1.0), r"invalid momentum: 1.0 \(must be \[0.0, 1.0\)\)"),
        (lambda ps: SGD(ps, weight_decay=-1.0), "invalid weight_decay"),
        (lambda ps: Adam(ps, betas=(0.9, 1.0)), "invalid beta2"),
        (lambda ps: Adam(ps, betas=(-0.1, 0.9)), "invalid beta1"),
        (lambda ps: Adam(ps, betas=(0.9,)), "betas must be a pair"),
        (lambda ps: Adam(ps, eps=-1e-8), "invalid eps"),
        (lambda ps: AdamW(ps, weight_decay=-0.01), "invalid weight_decay"),
        (lambda ps: SGD([]), "empty parameter list"),
    ],
)
def test_bad_hyperparameters(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        make([Tensor(np.zeros(2), requires_grad=True)])


def test_params_must_be_tensors() -> None:
    with pytest.raises(TypeError, match="optimizer params must be Tensors, got ndarray"):
        SGD([np.zeros(2)])  # type: ignore[list-item]


# ---- schedules -----------------------------------------------------------------------

def _opt(lr: float = 1.0) -> SGD:
    return SGD([Tensor(np.zeros(1), requires_grad=True)], lr=lr)


def _lrs(sched: object, opt: SGD, n: int) -> list[float]:
    out = []
    for _ in range(n):
        sched.step()  # type: ignore[attr-defined]
        out.append(opt.lr)
    return out


def test_step_lr() -> None:
    opt = _opt(0.8)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    assert sched.get_lr() == 0.8 and opt.lr == 0.8
    assert np.allclose(_lrs(sched, opt, 7), [0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2])


def test_cosine_lr_endpoints_and_midpoint() -> None:
    opt = _opt(1.0)
    sched = CosineLR(opt, total_steps=10, min_lr=0.1)
    lrs = _lrs(sched, opt, 12)
    assert math.isclose(lrs[4], 0.1 + 0.9 * 0.5)  # halfway: mean of base and min
    assert math.isclose(lrs[9], 0.1) and math.isclose(lrs[11], 0.1)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_warmup_lr() -> None:
    opt = _opt(1.0)
    sched = WarmupLR(opt, warmup_steps=4)
    assert opt.lr == 0.25
    assert _lrs(sched, opt, 5) == [0.5, 0.75, 1.0, 1.0, 1.0]


def test_schedule_drives_the_update_size() -> None:
    w = Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([w], lr=1.0)
    sched = StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        w.grad = Tensor(np.ones(1))
        opt.step()
        sched.step()
    assert np.allclose(w.data, -(1.0 + 0.5 + 0.25))


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda o: StepLR(o, step_size=0), "step_size must be >= 1"),
        (lambda o: StepLR(o, step_size=2, gamma=-1.0), "invalid gamma"),
        (lambda o: CosineLR(o, total_steps=0), "total_steps must be >= 1"),
        (lambda o: CosineLR(o, total_steps=5, min_lr=-1.0), "invalid min_lr"),
        (lambda o: WarmupLR(o, warmup_steps=0), "warmup_steps must be >= 1"),
    ],
)
def test_bad_schedule_arguments(make, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        make(_opt())


def test_schedule_needs_an_optimizer() -> None:
    with pytest.raises(TypeError, match="expected an Optimizer"):
        StepLR(object(), step_size=1)  # type: ignore[arg-type]
