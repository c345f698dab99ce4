"""The issue's seed script -- PyTorch's classic MNIST MLP loop with only the imports
changed -- trains one epoch on real Fashion-MNIST and beats 70% test accuracy.

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), or anywhere
fastmlp.data.load_mnist finds it without downloading. Skipped only if it is absent.
"""
import time

import numpy as np
import pytest

import fastmlp  # the seed script's imports
from fastmlp import nn, optim
from fastmlp import data


@pytest.fixture(scope="module")
def fashion():
    try:
        X, y = data.load_mnist(kind="fashion-mnist", download=False)
        Xt, yt = data.load_mnist(kind="fashion-mnist", train=False, download=False)
    except data.DatasetNotFoundError as e:
        pytest.skip(f"Fashion-MNIST not installed: {str(e).splitlines()[0]}")
    return data.normalize(X), y, data.normalize(Xt), yt


def test_seed_script_one_epoch_fashion_mnist(fashion):
    X, y, Xt, yt = fashion
    trainloader = data.DataLoader(X, y, batch_size=64, shuffle=True, seed=0)
    testloader = data.DataLoader(Xt, yt, batch_size=1000)
    fastmlp.manual_seed(0)

    # ---- the seed script (imports at the top of this file), one epoch instead of ten ----
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = fastmlp.flatten(x, 1)
            x = fastmlp.relu(self.fc1(x))
            x = self.fc2(x)
            return x

    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    start = time.perf_counter()
    for epoch in range(1):
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(trainloader):
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
    seconds = time.perf_counter() - start
    # ---- end of the seed script ----

    # a typical PyTorch evaluation loop
    correct = total = 0
    with fastmlp.no_grad():
        for inputs, labels in testloader:
            outputs = model(inputs)
            predicted = outputs.argmax(1)
            total += len(labels)
            correct += (predicted == labels).sum().item()
    accuracy = correct / total
    mean_loss = running_loss / len(trainloader)
    print(f"\nseed script: 1 epoch in {seconds:.2f} s ({seconds / len(trainloader) * 1e3:.3f} "
          f"ms/step), mean loss {mean_loss:.4f}, test accuracy {accuracy:.2%}")
    assert np.isfinite(mean_loss) and mean_loss < 1.5
    assert accuracy > 0.70
