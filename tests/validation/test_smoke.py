"""Smoke test of an installed tinytorch: a tiny end-to-end training run (imports only tinytorch and numpy)."""

import numpy as np

import tinytorch
from tinytorch import MLP, Adam, CrossEntropyLoss, Tanh, Tensor, accuracy, make_xor, no_grad


def test_package_exposes_the_course_api():
    for name in ("Tensor", "Linear", "Conv2d", "MultiHeadAttention", "DataLoader", "Adam", "Trainer",
                 "magnitude_prune", "benchmark_model", "save_model", "TinyGPT"):
        assert hasattr(tinytorch, name), name


def test_tiny_training_end_to_end():
    X, y = make_xor(n=64, noise=0.1, seed=0)
    model = MLP([2, 8, 2], activation=Tanh, rng=np.random.default_rng(0))
    optimizer, loss_fn = Adam(model.parameters(), lr=0.05), CrossEntropyLoss()
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = loss_fn(model(Tensor(X)), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    with no_grad():
        assert accuracy(model(Tensor(X)), y) == 1.0


def test_tinygpt_generates_from_the_installed_package():
    tok = tinytorch.CharTokenizer(tinytorch.SHAKESPEARE_SNIPPET)
    model = tinytorch.TinyGPT(tok.vocab_size, dim=16, num_heads=2, num_layers=1, block_size=8)
    losses = tinytorch.train_tinygpt(model, tok.encode(tinytorch.SHAKESPEARE_SNIPPET), steps=10, batch_size=4, lr=1e-2)
    assert losses[-1] < losses[0]
    text = tok.decode(model.generate(tok.encode("To"), max_new_tokens=10, seed=0))
    assert len(text) == 12 and set(text) <= set(tok.chars)
