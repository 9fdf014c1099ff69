"""mul_backward forgets to sum back to the operands' shapes."""

import torch


def unbroadcast(grad, shape):
    return grad.sum_to_size(shape)


def add_backward(grad_out, a_shape, b_shape):
    return unbroadcast(grad_out, a_shape), unbroadcast(grad_out, b_shape)


def mul_backward(grad_out, a, b):
    return torch.mul(grad_out, b), torch.mul(grad_out, a)


def matmul_backward(grad_out, a, b):
    grad_a = torch.matmul(grad_out, b.transpose(-2, -1))
    grad_b = torch.matmul(a.transpose(-2, -1), grad_out)
    return unbroadcast(grad_a, a.shape), unbroadcast(grad_b, b.shape)


def sum_backward(grad_out, shape, dim, keepdim):
    n = len(shape)
    dims = range(n) if dim is None else [dim] if isinstance(dim, int) else dim
    g = grad_out
    if not keepdim:
        for d in sorted(d % n for d in dims):
            g = torch.unsqueeze(g, d)
    return torch.zeros(shape, dtype=grad_out.dtype) + g


def max_backward(grad_out, x, dim, keepdim):
    idx = x.argmax(dim, keepdim=True)
    d = dim % x.dim()
    pos = torch.arange(x.shape[d]).reshape([-1 if i == d else 1 for i in range(x.dim())])
    g = grad_out if keepdim else grad_out.unsqueeze(d)
    return torch.where(pos == idx, g, torch.zeros((), dtype=x.dtype))


def softmax_backward(grad_out, y, dim):
    return y * (grad_out - torch.sum(grad_out * y, dim=dim, keepdim=True))


def embedding_backward(grad_out, indices, num_embeddings):
    d = grad_out.shape[-1]
    rows = grad_out.reshape(-1, d)
    where = indices.reshape(-1, 1).expand(-1, d)
    return torch.zeros(num_embeddings, d, dtype=grad_out.dtype).scatter_add_(0, where, rows)
