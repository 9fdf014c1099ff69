"""embedding_backward assigns rows, so a repeated index keeps only one of its gradients."""

import torch


def unbroadcast(grad, shape):
    shape = tuple(shape)
    while grad.dim() > len(shape):
        grad = grad.sum(0)
    for i in range(len(shape)):
        if shape[i] == 1 and grad.shape[i] != 1:
            grad = grad.sum(i, keepdim=True)
    return grad


def add_backward(grad_out, a_shape, b_shape):
    return unbroadcast(grad_out, a_shape), unbroadcast(grad_out, b_shape)


def mul_backward(grad_out, a, b):
    return unbroadcast(grad_out * b, a.shape), unbroadcast(grad_out * a, b.shape)


def matmul_backward(grad_out, a, b):
    grad_a = grad_out @ b.transpose(-1, -2)
    grad_b = a.transpose(-1, -2) @ grad_out
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)


def sum_backward(grad_out, shape, dim, keepdim):
    shape = tuple(shape)
    n = len(shape)
    if dim is None:
        dims = list(range(n))
    elif isinstance(dim, int):
        dims = [dim]
    else:
        dims = list(dim)
    dims = sorted(d + n if d < 0 else d for d in dims)
    g = grad_out
    if not keepdim:
        for d in dims:
            g = g.unsqueeze(d)
    return g.expand(shape).clone()


def max_backward(grad_out, x, dim, keepdim):
    idx = torch.argmax(x, dim=dim, keepdim=True)
    g = grad_out if keepdim else grad_out.unsqueeze(dim)
    out = torch.zeros_like(x)
    out.scatter_(dim, idx, g)
    return out


def softmax_backward(grad_out, y, dim):
    s = (grad_out * y).sum(dim=dim, keepdim=True)
    return y * (grad_out - s)


def embedding_backward(grad_out, indices, num_embeddings):
    d = grad_out.shape[-1]
    grad = torch.zeros(num_embeddings, d, dtype=grad_out.dtype)
    grad[indices.reshape(-1)] = grad_out.reshape(-1, d)
    return grad
