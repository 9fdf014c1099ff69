"""Everything in NumPy, in the input's dtype, back to torch at the end (np.add.at, np.put_along_axis)."""

import numpy as np
import torch


def _back(a):
    return torch.from_numpy(np.array(a, copy=True))


def _unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1:
            g = g.sum(axis=i, keepdims=True)
    return g


def unbroadcast(grad, shape):
    return _back(_unbroadcast(grad.numpy(), tuple(shape)))


def add_backward(grad_out, a_shape, b_shape):
    g = grad_out.numpy()
    return _back(_unbroadcast(g, tuple(a_shape))), _back(_unbroadcast(g, tuple(b_shape)))


def mul_backward(grad_out, a, b):
    g, a_, b_ = grad_out.numpy(), a.numpy(), b.numpy()
    return _back(_unbroadcast(g * b_, a_.shape)), _back(_unbroadcast(g * a_, b_.shape))


def matmul_backward(grad_out, a, b):
    g, a_, b_ = grad_out.numpy(), a.numpy(), b.numpy()
    grad_a = np.matmul(g, np.swapaxes(b_, -1, -2))
    grad_b = np.matmul(np.swapaxes(a_, -1, -2), g)
    return _back(_unbroadcast(grad_a, a_.shape)), _back(_unbroadcast(grad_b, b_.shape))


def sum_backward(grad_out, shape, dim, keepdim):
    shape = tuple(shape)
    g = grad_out.numpy()
    if dim is None:
        dim = tuple(range(len(shape)))
    axes = tuple(sorted(d % len(shape) for d in (dim if isinstance(dim, tuple) else (dim,))))
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return _back(np.broadcast_to(g, shape))


def max_backward(grad_out, x, dim, keepdim):
    x_ = x.numpy()
    idx = np.expand_dims(np.argmax(x_, axis=dim), dim)
    g = grad_out.numpy()
    if not keepdim:
        g = np.expand_dims(g, dim)
    out = np.zeros_like(x_)
    np.put_along_axis(out, idx, g, axis=dim)
    return _back(out)


def softmax_backward(grad_out, y, dim):
    g, y_ = grad_out.numpy(), y.numpy()
    return _back(y_ * (g - (g * y_).sum(axis=dim, keepdims=True)))


def embedding_backward(grad_out, indices, num_embeddings):
    g = grad_out.numpy()
    d = g.shape[-1]
    out = np.zeros((num_embeddings, d), dtype=g.dtype)
    np.add.at(out, indices.numpy().reshape(-1), g.reshape(-1, d))
    return _back(out)
