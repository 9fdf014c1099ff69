"""matmul_backward forgets to transpose a for b's gradient: a @ grad_out."""

import torch


def unbroadcast(grad, shape):
    extra = grad.dim() - len(shape)
    if extra > 0:
        grad = grad.sum(dim=tuple(range(extra)))
    ones = tuple(i for i, s in enumerate(shape) if s == 1)
    if ones:
        grad = grad.sum(dim=ones, keepdim=True)
    return grad


def add_backward(grad_out, a_shape, b_shape):
    ga = unbroadcast(grad_out, a_shape)
    gb = unbroadcast(grad_out, b_shape)
    return (ga, gb)


def mul_backward(grad_out, a, b):
    return unbroadcast(grad_out * b, tuple(a.shape)), unbroadcast(grad_out * a, tuple(b.shape))


def matmul_backward(grad_out, a, b):
    grad_a = grad_out @ b.transpose(-1, -2)
    grad_b = a @ grad_out
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)


def sum_backward(grad_out, shape, dim, keepdim):
    n = len(shape)
    if dim is None:
        dim, keepdim = tuple(range(n)), False
    if isinstance(dim, int):
        dim = (dim,)
    g = grad_out
    if not keepdim:
        for d in sorted((d + n) % n for d in dim):
            g = g.unsqueeze(d)
    return torch.ones(shape, dtype=grad_out.dtype) * g


def max_backward(grad_out, x, dim, keepdim):
    xm = x.movedim(dim, -1)
    idx = xm.argmax(-1)
    g = grad_out.squeeze(dim) if keepdim else grad_out
    out = torch.zeros_like(xm)
    out.scatter_(-1, idx.unsqueeze(-1), g.unsqueeze(-1))
    return out.movedim(-1, dim)


def softmax_backward(grad_out, y, dim):
    gy = grad_out * y
    return gy - y * gy.sum(dim, keepdim=True)


def embedding_backward(grad_out, indices, num_embeddings):
    grad = grad_out.new_zeros((num_embeddings, grad_out.shape[-1]))
    grad.index_put_((indices.reshape(-1),), grad_out.reshape(-1, grad_out.shape[-1]), accumulate=True)
    return grad
