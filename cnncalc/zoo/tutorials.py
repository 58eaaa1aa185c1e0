"""Small networks from the tutorials the seeds quote: PyTorch's CIFAR-10 Net, a one-conv CIFAR
classifier and the Keras MNIST convnet. Functional activations (F.relu) appear as ReLU rows."""

from __future__ import annotations

from ..graph import Sequential
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU


def cifar_net(*, num_classes=10, in_channels=3):
    """The PyTorch "Training a classifier" tutorial's Net: 62,006 params on 3x32x32."""
    return Sequential(
        dict(
            conv1=Conv2d(in_channels, 6, 5), relu1=ReLU(), pool1=MaxPool2d(2, 2),
            conv2=Conv2d(6, 16, 5), relu2=ReLU(), pool2=MaxPool2d(2, 2),
            flatten=Flatten(),
            fc1=Linear(16 * 5 * 5, 120), relu3=ReLU(),
            fc2=Linear(120, 84), relu4=ReLU(),
            fc3=Linear(84, num_classes),
        )
    )


def simple_cnn(*, num_classes=10, in_channels=3):
    """conv 3x3 (16, pad 1) - ReLU - max pool 2 - FC 16*16*16 -> 128 - ReLU - FC 128 -> 10 on 3x32x32."""
    return Sequential(
        dict(
            conv1=Conv2d(in_channels, 16, kernel_size=3, padding=1), relu1=ReLU(), pool=MaxPool2d(2, 2),
            flatten=Flatten(),
            fc1=Linear(16 * 16 * 16, 128), relu2=ReLU(),
            fc2=Linear(128, num_classes),
        )
    )


def mnist_cnn(*, num_classes=10, in_channels=1):
    """Keras's MNIST convnet (Conv2D 32 and 64 of 3x3 with ReLU, 2x2 pools, Dense 64, Dense 10): 121,930 params."""
    return Sequential(
        dict(
            conv1=Conv2d(in_channels, 32, kernel_size=3), relu1=ReLU(), pool1=MaxPool2d(2),
            conv2=Conv2d(32, 64, kernel_size=3), relu2=ReLU(), pool2=MaxPool2d(2),
            flatten=Flatten(),
            dense1=Linear(64 * 5 * 5, 64), relu3=ReLU(),
            dense2=Linear(64, num_classes),
        )
    )
