"""mul_backward multiplies each gradient by its own operand."""

import torch
import torch.nn.functional as F


def unbroadcast(grad, shape):
    shape = tuple(shape)
    padded = (1,) * (grad.dim() - len(shape)) + shape
    dims = [i for i, (p, g) in enumerate(zip(padded, grad.shape)) if p == 1 and g != 1]
    if dims:
        grad = grad.sum(dim=dims, keepdim=True)
    return grad.reshape(shape)


def add_backward(grad_out, a_shape, b_shape):
    return unbroadcast(grad_out, a_shape), unbroadcast(grad_out, b_shape)


def mul_backward(grad_out, a, b):
    return unbroadcast(a * grad_out, a.shape), unbroadcast(b * grad_out, b.shape)


def matmul_backward(grad_out, a, b):
    return unbroadcast(torch.matmul(grad_out, b.mT), a.shape), unbroadcast(torch.matmul(a.mT, grad_out), b.shape)


def sum_backward(grad_out, shape, dim, keepdim):
    shape = tuple(shape)
    n = len(shape)
    if dim is None:
        return grad_out.reshape((1,) * n).expand(shape).contiguous()
    dims = {d % n for d in ((dim,) if isinstance(dim, int) else dim)}
    kept = [1 if i in dims else s for i, s in enumerate(shape)]
    return grad_out.reshape(kept).expand(shape).contiguous()


def max_backward(grad_out, x, dim, keepdim):
    d = dim % x.dim()
    onehot = F.one_hot(x.argmax(dim=d), x.shape[d]).to(x.dtype).movedim(-1, d)
    g = grad_out.squeeze(d) if keepdim else grad_out
    return onehot * g.unsqueeze(d)


def softmax_backward(grad_out, y, dim):
    return y * grad_out - y * (y * grad_out).sum(dim, keepdim=True)


def embedding_backward(grad_out, indices, num_embeddings):
    onehot = F.one_hot(indices.reshape(-1), num_embeddings).to(grad_out.dtype)
    return onehot.T @ grad_out.reshape(-1, grad_out.shape[-1])
