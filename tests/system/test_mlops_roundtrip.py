"""System test: train -> save -> load gives identical predictions; the registry keeps versions."""

import numpy as np

from tinytorch import (
    MLP,
    SHAKESPEARE_SNIPPET,
    Adam,
    CharTokenizer,
    CrossEntropyLoss,
    DriftMonitor,
    ModelRegistry,
    ReLU,
    Tensor,
    TinyGPT,
    accuracy,
    load_model,
    load_state,
    make_blobs,
    no_grad,
    save_model,
    train_tinygpt,
)


def _train(model, X, y, steps: int) -> None:
    optimizer, loss_fn = Adam(model.parameters(), lr=0.01), CrossEntropyLoss()
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(model(Tensor(X)), y).backward()
        optimizer.step()


def _predict(model, X) -> np.ndarray:
    with no_grad():
        return model(Tensor(X)).numpy()


def _fresh(seed: int):
    return MLP([4, 16, 3], activation=ReLU, rng=np.random.default_rng(seed))


def test_save_load_gives_identical_predictions(tmp_path):
    X, y = make_blobs(300, centers=3, dim=4, std=1.5, seed=0)
    model = _fresh(0)
    _train(model, X, y, steps=50)
    assert accuracy(_predict(model, X), y) >= 0.9

    path = save_model(model, tmp_path / "blobs.npz")
    restored = load_model(_fresh(1), path)

    assert not np.array_equal(_predict(_fresh(1), X), _predict(model, X))
    np.testing.assert_array_equal(_predict(restored, X), _predict(model, X))
    assert set(load_state(path)) == set(model.state_dict())


def test_registry_lists_and_loads_versions(tmp_path):
    X, y = make_blobs(300, centers=3, dim=4, std=1.5, seed=0)
    registry = ModelRegistry(tmp_path / "registry")
    model = _fresh(0)
    _train(model, X, y, steps=5)
    v1_predictions = _predict(model, X)
    assert registry.register("blobs", model, metrics={"accuracy": accuracy(v1_predictions, y)}) == 1
    _train(model, X, y, steps=50)
    assert registry.register("blobs", model, metrics={"accuracy": accuracy(_predict(model, X), y)}) == 2

    assert registry.versions("blobs") == [1, 2]
    assert registry.latest_version("blobs") == 2
    np.testing.assert_array_equal(_predict(registry.load("blobs", _fresh(3), version=1), X), v1_predictions)
    np.testing.assert_array_equal(_predict(registry.load("blobs", _fresh(4)), X), _predict(model, X))


def test_tinygpt_round_trip_generates_the_same_text(tmp_path):
    tok = CharTokenizer(SHAKESPEARE_SNIPPET)
    model = TinyGPT(tok.vocab_size, dim=16, num_heads=2, num_layers=1, block_size=8, rng=np.random.default_rng(0))
    train_tinygpt(model, tok.encode(SHAKESPEARE_SNIPPET), steps=20, batch_size=8, lr=1e-2)
    path = save_model(model, tmp_path / "tinygpt.npz")
    clone = load_model(TinyGPT(tok.vocab_size, dim=16, num_heads=2, num_layers=1, block_size=8,
                               rng=np.random.default_rng(1)), path)
    prompt = tok.encode("To be")
    np.testing.assert_array_equal(clone.generate(prompt, 30, seed=2), model.generate(prompt, 30, seed=2))


def test_drift_monitor_flags_shifted_inputs():
    X, _ = make_blobs(600, centers=3, dim=4, std=1.5, seed=0)
    X_new, _ = make_blobs(600, centers=3, dim=4, std=1.5, seed=0)
    monitor = DriftMonitor(X[:300, 0])
    assert not monitor.check(X_new[300:, 0]).drifted
    assert monitor.check(X_new[300:, 0] + 3.0).drifted
