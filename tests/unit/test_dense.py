"""Unit tests for tinytorch.core.dense: Sequential and MLP."""

import numpy as np
import pytest

from tinytorch.core.dense import MLP, Sequential
from tinytorch.core.layers import Dropout, Linear, Module
from tinytorch.core.tensor import Tensor


class _Tanh:
    """A stand-in activation class (dense does not depend on the activations module)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()

    def __call__(self, x: Tensor) -> Tensor:
        return self.forward(x)


def _relu(x: Tensor) -> Tensor:
    return x.maximum(0.0)


def _x(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- Sequential
def test_sequential_applies_layers_in_order():
    a, b = Linear(3, 4, rng=np.random.default_rng(1)), Linear(4, 2, rng=np.random.default_rng(2))
    seq = Sequential(a, _relu, b)
    x = _x(5, 3)
    expected = np.maximum(x @ a.weight.numpy() + a.bias.numpy(), 0) @ b.weight.numpy() + b.bias.numpy()
    np.testing.assert_allclose(seq(Tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_sequential_is_a_module_with_indexed_parameter_names():
    seq = Sequential(Linear(3, 4), _Tanh(), Linear(4, 2, bias=False))
    assert isinstance(seq, Module)
    assert [n for n, _ in seq.named_parameters()] == ["layers.0.weight", "layers.0.bias", "layers.2.weight"]
    assert seq.num_parameters() == 3 * 4 + 4 + 4 * 2


def test_sequential_indexing_slicing_len_iter():
    layers = [Linear(3, 4), _relu, Linear(4, 2)]
    seq = Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2] and list(seq) == layers
    head = seq[:2]
    assert isinstance(head, Sequential) and len(head) == 2 and head[0] is layers[0]
    assert head(Tensor(_x(2, 3))).shape == (2, 4)
    with pytest.raises(IndexError):
        seq[3]


def test_empty_sequential_is_identity():
    x = Tensor(_x(2, 3))
    assert Sequential()(x) is x and len(Sequential()) == 0 and repr(Sequential()) == "Sequential()"


def test_sequential_append():
    seq = Sequential(Linear(2, 3))
    assert seq.append(_relu) is seq and len(seq) == 2
    with pytest.raises(TypeError, match="not callable"):
        seq.append(3)


@pytest.mark.parametrize("bad", [3, "relu", np.ones(2)])
def test_sequential_rejects_non_callables(bad):
    with pytest.raises(TypeError, match="Sequential layer 1 is not callable"):
        Sequential(Linear(2, 2), bad)


def test_sequential_train_eval_reaches_nested_layers():
    drop = Dropout(0.5)
    seq = Sequential(Linear(4, 4), Sequential(drop, _relu))
    seq.eval()
    assert not drop.training
    x = Tensor(np.ones((3, 4), dtype=np.float32))
    assert np.array_equal(seq(x).numpy(), seq(x).numpy())          # deterministic in eval
    seq.train()
    assert drop.training


def test_sequential_state_dict_round_trip():
    a = Sequential(Linear(3, 4, rng=np.random.default_rng(1)), _relu, Linear(4, 1, rng=np.random.default_rng(2)))
    b = Sequential(Linear(3, 4, rng=np.random.default_rng(3)), _relu, Linear(4, 1, rng=np.random.default_rng(4)))
    b.load_state_dict(a.state_dict())
    x = Tensor(_x(6, 3))
    assert np.array_equal(a(x).numpy(), b(x).numpy())


def test_sequential_repr_lists_layers():
    text = repr(Sequential(Linear(2, 3), Dropout(0.1)))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text and "(1): Dropout(p=0.1)" in text


# ---------------------------------------------------------------- MLP
def test_mlp_structure_and_parameter_count():
    mlp = MLP([2, 8, 8, 1], activation=_Tanh)
    assert isinstance(mlp, Sequential) and mlp.sizes == [2, 8, 8, 1]
    assert [type(layer).__name__ for layer in mlp] == ["Linear", "_Tanh", "Linear", "_Tanh", "Linear"]
    assert mlp[1] is not mlp[3]                           # a class gives one instance per hidden layer
    assert mlp.num_parameters() == (2 * 8 + 8) + (8 * 8 + 8) + (8 + 1)
    assert [n for n, _ in mlp.named_parameters()][-2:] == ["layers.4.weight", "layers.4.bias"]


def test_mlp_forward_matches_numpy():
    mlp = MLP([3, 5, 2], activation=_Tanh, rng=np.random.default_rng(0))
    x = _x(4, 3)
    w1, b1, w2, b2 = (p.numpy() for p in mlp.parameters())
    np.testing.assert_allclose(mlp(Tensor(x)).numpy(), np.tanh(x @ w1 + b1) @ w2 + b2, rtol=1e-5, atol=1e-6)


def test_mlp_default_activation_is_relu():
    mlp = MLP([3, 5, 2])
    x = _x(4, 3)
    w1, b1, w2, b2 = (p.numpy() for p in mlp.parameters())
    np.testing.assert_allclose(mlp(Tensor(x)).numpy(), np.maximum(x @ w1 + b1, 0) @ w2 + b2, rtol=1e-5, atol=1e-6)


def test_mlp_accepts_factories_instances_and_functions():
    made = []

    def factory():
        made.append(_Tanh())
        return made[-1]

    assert MLP([2, 3, 3, 1], activation=factory)[1] is made[0] and len(made) == 2
    shared = _Tanh()
    mlp = MLP([2, 3, 3, 1], activation=shared)
    assert mlp[1] is shared and mlp[3] is shared
    assert MLP([2, 3, 1], activation=_relu)[1] is _relu
    with pytest.raises(TypeError, match="activation must be"):
        MLP([2, 3, 1], activation=5)


def test_mlp_final_activation():
    mlp = MLP([2, 4, 1], activation=_relu, final_activation=lambda t: t.sigmoid())
    assert len(mlp) == 4
    out = mlp(Tensor(_x(10, 2))).numpy()
    assert ((out > 0) & (out < 1)).all()


def test_mlp_single_layer_has_no_activation():
    mlp = MLP([3, 2], activation=_Tanh)
    assert len(mlp) == 1 and isinstance(mlp[0], Linear)


def test_mlp_is_seeded_and_layers_differ():
    a, b = MLP([4, 4, 4, 4]), MLP([4, 4, 4, 4])
    for p, q in zip(a.parameters(), b.parameters()):
        assert np.array_equal(p.data, q.data)
    assert not np.array_equal(a[0].weight.data, a[2].weight.data)
    c = MLP([4, 4, 4, 4], rng=np.random.default_rng(1))
    assert not np.array_equal(a[0].weight.data, c[0].weight.data)


@pytest.mark.parametrize("n", [1, 0])
def test_mlp_batch_of_one_and_empty_batch(n):
    mlp = MLP([3, 4, 2])
    assert mlp(Tensor(np.zeros((n, 3), dtype=np.float32))).shape == (n, 2)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [([3], "at least an input and an output"), ([], "at least an input and an output"),
     ([3, 0, 2], "must be positive"), ([3, -4], "must be positive")],
)
def test_mlp_rejects_bad_sizes(sizes, match):
    with pytest.raises(ValueError, match=match):
        MLP(sizes)


def test_mlp_wrong_input_width_is_reported_by_linear():
    with pytest.raises(ValueError, match="last dimension 3"):
        MLP([3, 4, 2])(Tensor(np.zeros((2, 5), dtype=np.float32)))
