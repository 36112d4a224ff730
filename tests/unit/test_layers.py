"""Unit tests for tinytorch.core.layers: Parameter, Module bookkeeping, Linear, Dropout."""

import math

import numpy as np
import pytest

from tinytorch.core.layers import Dropout, Linear, Module, Parameter
from tinytorch.core.tensor import Tensor


class _Leaf(Module):
    def __init__(self, n: int = 2) -> None:
        super().__init__()
        self.w = Parameter(np.arange(n * 3, dtype=np.float32).reshape(n, 3))
        self.b = Parameter(np.zeros(3, dtype=np.float32))
        self.constant = Tensor(np.ones(4))          # a plain Tensor is not a parameter
        self.note = "not a parameter"

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.w + self.b


class _Tree(Module):
    def __init__(self) -> None:
        super().__init__()
        self.first = _Leaf(2)
        self.blocks = [_Leaf(3), _Leaf(3)]
        self.pair = (_Leaf(1),)
        self.scale = Parameter(np.ones(1, dtype=np.float32))
        self.tied = self.first.w                    # shared: must be reported once


# ---------------------------------------------------------------- Parameter
def test_parameter_is_a_tensor_that_requires_grad():
    p = Parameter(np.ones((2, 3), dtype=np.float32))
    assert isinstance(p, Tensor)
    assert p.requires_grad and p.grad is None and p.shape == (2, 3)


def test_parameter_keeps_float64_and_unwraps_tensors():
    assert Parameter(np.zeros(2)).dtype == np.float64
    t = Tensor(np.arange(3.0))
    p = Parameter(t)
    assert p.requires_grad and np.array_equal(p.data, t.data)
    assert Parameter([1.0, 2.0]).dtype == np.float32
    assert Parameter(np.zeros(2), dtype=np.float32).dtype == np.float32


# ---------------------------------------------------------------- Module
def test_base_forward_is_abstract():
    with pytest.raises(NotImplementedError, match="Module must implement forward"):
        Module()(Tensor([1.0]))


def test_call_dispatches_to_forward_with_arguments():
    class Add(Module):
        def forward(self, x, y=0.0):
            return x + y

    assert Add()(Tensor([1.0]), y=2.0).item() == 3.0


def test_named_parameters_order_names_and_no_duplicates():
    tree = _Tree()
    names = [n for n, _ in tree.named_parameters()]
    assert names == ["first.w", "first.b", "blocks.0.w", "blocks.0.b", "blocks.1.w", "blocks.1.b",
                     "pair.0.w", "pair.0.b", "scale"]
    params = tree.parameters()
    assert len(params) == len({id(p) for p in params}) == 9
    assert all(isinstance(p, Parameter) for p in params)
    assert params[0] is tree.first.w


def test_shared_module_is_counted_once():
    class Shared(Module):
        def __init__(self):
            super().__init__()
            self.a = _Leaf(2)
            self.b = self.a

    assert [n for n, _ in Shared().named_parameters()] == ["a.w", "a.b"]


def test_num_parameters_counts_scalars():
    tree = _Tree()
    assert tree.num_parameters() == (6 + 3) + 2 * (9 + 3) + (3 + 3) + 1
    assert Module().num_parameters() == 0 and Module().parameters() == []


def test_modules_lists_every_submodule_once():
    tree = _Tree()
    mods = tree.modules()
    assert mods[0] is tree and len(mods) == 5 and tree.blocks[1] in mods


def test_train_eval_propagate_to_children_and_return_self():
    tree = _Tree()
    assert tree.training and tree.blocks[0].training
    assert tree.eval() is tree
    assert not any(m.training for m in tree.modules())
    assert tree.train() is tree
    assert all(m.training for m in tree.modules())
    tree.train(False)
    assert not tree.pair[0].training


def test_training_flag_exists_without_super_init():
    class Lazy(Module):
        def __init__(self):  # forgets super().__init__()
            self.w = Parameter(np.zeros(2))

    lazy = Lazy()
    assert lazy.training is True
    assert lazy.eval().training is False


def test_zero_grad_clears_every_gradient():
    tree = _Tree()
    for p in tree.parameters():
        p.grad = Tensor(np.ones_like(p.data))
    tree.zero_grad()
    assert all(p.grad is None for p in tree.parameters())


def test_state_dict_is_a_copy_with_dotted_keys():
    tree = _Tree()
    state = tree.state_dict()
    assert list(state) == [n for n, _ in tree.named_parameters()]
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["first.w"][...] = 99.0
    assert tree.first.w.data.max() < 99.0


def test_load_state_dict_round_trip():
    src, dst = _Tree(), _Tree()
    for i, p in enumerate(src.parameters()):
        p.data = np.full_like(p.data, i + 0.5)
    dst.load_state_dict(src.state_dict())
    for (n1, p1), (n2, p2) in zip(src.named_parameters(), dst.named_parameters()):
        assert n1 == n2 and np.array_equal(p1.data, p2.data) and p2.dtype == np.float32
    src.first.w.data[...] = -1.0                         # no aliasing after loading
    assert dst.first.w.data.min() > -1.0


def test_load_state_dict_keeps_model_dtype():
    leaf = _Leaf(1)
    leaf.load_state_dict({"w": np.ones((1, 3)), "b": np.zeros(3)})   # float64 arrays in
    assert leaf.w.dtype == np.float32 and leaf.w.data.sum() == 3.0


@pytest.mark.parametrize(
    ("state", "error", "match"),
    [
        ({"w": np.zeros((1, 3))}, KeyError, r"missing keys \['b'\]"),
        ({"w": np.zeros((1, 3)), "b": np.zeros(3), "extra": np.zeros(1)}, KeyError, r"unexpected keys \['extra'\]"),
        ({"w": np.zeros((3, 1)), "b": np.zeros(3)}, ValueError, r"shape mismatch for 'w'.*\(1, 3\).*\(3, 1\)"),
    ],
)
def test_load_state_dict_is_strict(state, error, match):
    leaf = _Leaf(1)
    before = leaf.w.data.copy()
    with pytest.raises(error, match=match):
        leaf.load_state_dict(state)
    assert np.array_equal(leaf.w.data, before)           # nothing half-loaded


def test_load_state_dict_key_errors_are_key_and_value_errors_with_plain_messages():
    leaf = _Leaf(1)
    with pytest.raises(KeyError) as info:
        leaf.load_state_dict({})
    assert isinstance(info.value, ValueError)
    assert str(info.value) == "state dict does not match _Leaf: missing keys ['b', 'w'], unexpected keys []"


def test_parameter_repr():
    assert repr(Parameter(np.zeros(2))).startswith("Parameter(")


def test_repr_shows_the_tree():
    text = repr(_Tree())
    assert text.startswith("_Tree(") and "(first): _Leaf()" in text and "(blocks.1): _Leaf()" in text
    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"


# ---------------------------------------------------------------- Linear
def test_linear_forward_matches_numpy():
    rng = np.random.default_rng(3)
    lin = Linear(4, 3, rng=rng)
    lin.bias.data = rng.standard_normal(3).astype(np.float32)
    x = rng.standard_normal((5, 4)).astype(np.float32)
    out = lin(Tensor(x))
    assert out.shape == (5, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), x @ lin.weight.numpy() + lin.bias.numpy(), rtol=1e-6)


def test_linear_parameters_shapes_and_names():
    lin = Linear(4, 3)
    assert lin.weight.shape == (4, 3) and lin.bias.shape == (3,)
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    assert lin.num_parameters() == 15 and lin.in_features == 4 and lin.out_features == 3


def test_linear_without_bias():
    lin = Linear(3, 2, bias=False)
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    x = np.ones((1, 3), dtype=np.float32)
    np.testing.assert_allclose(lin(Tensor(x)).numpy(), x @ lin.weight.numpy())


@pytest.mark.parametrize("shape", [(1, 4), (0, 4), (2, 3, 4), (4,)])
def test_linear_batch_shapes(shape):
    lin = Linear(4, 2)
    x = np.ones(shape, dtype=np.float32)
    out = lin(Tensor(x))
    assert out.shape == shape[:-1] + (2,)
    np.testing.assert_allclose(out.numpy(), x @ lin.weight.numpy() + lin.bias.numpy(), rtol=1e-6)


def test_linear_accepts_ndarray_input():
    lin = Linear(2, 2)
    assert isinstance(lin(np.ones((1, 2), dtype=np.float32)), Tensor)


def test_linear_kaiming_uniform_init():
    lin = Linear(200, 300, rng=np.random.default_rng(0))
    w = lin.weight.numpy()
    bound = math.sqrt(6 / 200)
    assert w.dtype == np.float32 and np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.95 * bound                      # uses the whole range
    assert abs(w.var() - 2 / 200) < 0.1 * (2 / 200)            # Var = 2 / fan_in
    assert abs(w.mean()) < 0.01 and np.all(lin.bias.numpy() == 0.0)


def test_linear_init_is_seeded():
    a, b = Linear(5, 4, rng=np.random.default_rng(7)), Linear(5, 4, rng=np.random.default_rng(7))
    assert np.array_equal(a.weight.data, b.weight.data)
    assert np.array_equal(Linear(5, 4).weight.data, Linear(5, 4).weight.data)        # default rng seeded
    rng = np.random.default_rng(7)
    c, d = Linear(5, 4, rng=rng), Linear(5, 4, rng=rng)
    assert not np.array_equal(c.weight.data, d.weight.data)                       # shared rng advances


def test_linear_rejects_wrong_feature_size():
    with pytest.raises(ValueError, match=r"last dimension 4, got shape \(2, 3\)"):
        Linear(4, 2)(Tensor(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="last dimension 4"):
        Linear(4, 2)(Tensor(np.float32(1.0)))


@pytest.mark.parametrize(("n_in", "n_out"), [(0, 3), (3, 0), (-1, 2)])
def test_linear_rejects_bad_sizes(n_in, n_out):
    with pytest.raises(ValueError, match="positive sizes"):
        Linear(n_in, n_out)


def test_linear_state_dict_round_trip():
    a, b = Linear(3, 2, rng=np.random.default_rng(1)), Linear(3, 2, rng=np.random.default_rng(2))
    b.load_state_dict(a.state_dict())
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    assert np.array_equal(a(x).numpy(), b(x).numpy())


# ---------------------------------------------------------------- Dropout
@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_p_outside_unit_interval(p):
    with pytest.raises(ValueError, match=r"must be in \[0, 1\)"):
        Dropout(p)


def test_dropout_training_zeroes_and_rescales():
    drop = Dropout(0.25, rng=np.random.default_rng(0))
    x = np.ones((400, 50), dtype=np.float32)
    y = drop(Tensor(x)).numpy()
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.02          # drop rate ~ p
    assert abs(y.mean() - 1.0) < 0.03                  # expectation preserved


def test_dropout_eval_and_p_zero_are_identity():
    x = Tensor(np.arange(6, dtype=np.float32))
    drop = Dropout(0.9)
    assert drop.eval()(x) is x
    assert Dropout(0.0)(x) is x


def test_dropout_is_seeded_and_fresh_each_call():
    x = Tensor(np.ones((20, 20), dtype=np.float32))
    a, b = Dropout(0.5, rng=np.random.default_rng(4)), Dropout(0.5, rng=np.random.default_rng(4))
    first = a(x).numpy()
    assert np.array_equal(first, b(x).numpy())
    assert not np.array_equal(first, a(x).numpy())


def test_dropout_keeps_float64_and_has_no_parameters():
    drop = Dropout(0.5)
    assert drop(Tensor(np.ones(10))).dtype == np.float64
    assert drop.parameters() == [] and drop.state_dict() == {}
    assert repr(drop) == "Dropout(p=0.5)"


def test_dropout_follows_parent_mode():
    class Net(Module):
        def __init__(self):
            super().__init__()
            self.drop = Dropout(0.5)

        def forward(self, x):
            return self.drop(x)

    net = Net()
    x = Tensor(np.ones((10, 10), dtype=np.float32))
    assert (net(x).numpy() == 0).any()
    net.eval()
    assert np.array_equal(net(x).numpy(), x.numpy())


### BEGIN HIDDEN TESTS
def test_dropout_empty_batch():
    assert Dropout(0.5)(Tensor(np.zeros((0, 3), dtype=np.float32))).shape == (0, 3)
### END HIDDEN TESTS
