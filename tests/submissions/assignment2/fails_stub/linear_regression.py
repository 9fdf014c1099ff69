"""Fixture: the unmodified starter file: every function raises NotImplementedError."""
import torch


def forward(x, w, b):
    raise NotImplementedError


def mse_loss(y_pred, y):
    raise NotImplementedError


def zero_grad(params):
    raise NotImplementedError


def sgd_step(params, lr):
    raise NotImplementedError


def train(x, y, w, b, lr, epochs):
    raise NotImplementedError
