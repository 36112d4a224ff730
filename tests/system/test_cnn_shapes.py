"""System test: a small CNN (Conv2d, MaxPool2d, Flatten, Linear) learns the 4-class shapes task."""

import numpy as np

from tinytorch import (
    Adam,
    Conv2d,
    CrossEntropyLoss,
    DataLoader,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    TensorDataset,
    Trainer,
    accuracy,
    make_shapes,
    train_test_split,
)


def test_cnn_learns_shapes():
    X, y = make_shapes(600, size=12, noise=0.1, seed=0)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.25, seed=0)
    rng = np.random.default_rng(0)
    model = Sequential(
        Conv2d(1, 8, 3, padding=1, rng=rng),  # (N, 8, 12, 12)
        ReLU(),
        MaxPool2d(2),                         # (N, 8, 6, 6)
        Conv2d(8, 16, 3, padding=1, rng=rng),
        ReLU(),
        MaxPool2d(2),                         # (N, 16, 3, 3)
        Flatten(),
        Linear(16 * 3 * 3, 4, rng=rng),
    )
    trainer = Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss())
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True, seed=0)

    history = trainer.fit(loader, epochs=10)

    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert accuracy(trainer.predict(X_test), y_test) >= 0.9
