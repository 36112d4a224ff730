"""System test: data -> MLP -> Trainer -> predict solves XOR, using only the assembled package."""

import numpy as np

from tinytorch import (
    MLP,
    Adam,
    CrossEntropyLoss,
    DataLoader,
    TensorDataset,
    Tanh,
    Trainer,
    accuracy,
    make_xor,
)


def test_mlp_reaches_full_accuracy_on_xor():
    X_train, y_train = make_xor(n=200, noise=0.1, seed=0)
    X_test, y_test = make_xor(n=200, noise=0.1, seed=1)
    model = MLP([2, 8, 2], activation=Tanh, rng=np.random.default_rng(0))
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=0)

    history = trainer.fit(loader, epochs=25)

    assert history.epochs == 25
    assert history.train_loss[-1] < 0.1 * history.train_loss[0]
    assert accuracy(trainer.predict(X_train), y_train) == 1.0
    assert accuracy(trainer.predict(X_test), y_test) == 1.0
