"""Assignment 6: autograd Functions with your own backward.

Each class is a ``torch.autograd.Function`` with a static ``forward(ctx, ...)`` and ``backward(ctx, grad_output)``.
Save what backward needs with ``ctx.save_for_backward`` (tensors) or as attributes of ``ctx`` (numbers).
Inside forward and backward, autograd is forbidden (``.backward()``, ``torch.autograd.grad``,
``torch.autograd.functional``, ``torch.func``) and so is torch's own implementation of the op you are writing
(``torch.nn.functional.softplus``, ``cross_entropy``, ``nll_loss``, ``layer_norm``, ``torch.layer_norm``);
everything else (``exp``, ``log1p``, ``logsumexp``, ``softmax``, ``sigmoid``, ``clamp``, indexing) is allowed.
The module-level function after each class is given: it returns ``Class.apply(...)``.
"""

import torch


class Softplus(torch.autograd.Function):
    """``softplus(x) = log(1 + exp(x))``, elementwise."""

    @staticmethod
    def forward(ctx, x):
        """``log(1 + exp(x))`` with the shape and dtype of ``x``, finite for every finite ``x``
        (``softplus(1000.)`` is ``1000.``, not ``inf``)."""
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return x.clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """``grad_output * sigmoid(x)``."""
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)
        ### END SOLUTION


def softplus(x):
    return Softplus.apply(x)


class SoftmaxCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of ``(N, C)`` logits against ``(N,)`` int64 class indices."""

    @staticmethod
    def forward(ctx, logits, target):
        """The mean over the N rows of ``logsumexp(logits[i]) - logits[i, target[i]]``, a 0-dim tensor of
        ``logits``' dtype, finite for logits up to ``+-1e4``."""
        ### BEGIN SOLUTION
        rows = torch.arange(logits.shape[0])
        lse = torch.logsumexp(logits, dim=1)
        ctx.save_for_backward(logits, target)
        return (lse - logits[rows, target]).mean()
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """``(grad_output * (softmax(logits) - onehot(target)) / N, None)``: no gradient for the indices."""
        ### BEGIN SOLUTION
        logits, target = ctx.saved_tensors
        onehot = torch.nn.functional.one_hot(target, logits.shape[1]).to(logits.dtype)
        return grad_output * (torch.softmax(logits, dim=1) - onehot) / logits.shape[0], None
        ### END SOLUTION


def softmax_cross_entropy(logits, target):
    return SoftmaxCrossEntropy.apply(logits, target)


class LayerNorm(torch.autograd.Function):
    """Each row of an ``(N, D)`` input normalised by its mean and biased variance, then scaled and shifted."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        """``(x - mean) / sqrt(var + eps) * weight + bias`` per row (``var`` biased: divided by D);
        ``weight`` and ``bias`` are ``(D,)``, ``eps`` a float."""
        ### BEGIN SOLUTION
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=1, keepdim=True)
        inv_std = torch.rsqrt(var + eps)
        x_hat = centred * inv_std
        ctx.save_for_backward(x_hat, inv_std, weight)
        return x_hat * weight + bias
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """``(dx, dweight, dbias, None)`` with the shapes of ``x``, ``weight`` and ``bias``; ``None`` for ``eps``
        (``None`` is also allowed for an input whose ``ctx.needs_input_grad`` is False)."""
        ### BEGIN SOLUTION
        x_hat, inv_std, weight = ctx.saved_tensors
        dbias = grad_output.sum(dim=0)
        dweight = (grad_output * x_hat).sum(dim=0)
        g = grad_output * weight
        dx = inv_std * (g - g.mean(dim=1, keepdim=True) - x_hat * (g * x_hat).mean(dim=1, keepdim=True))
        return dx, dweight, dbias, None
        ### END SOLUTION


def layer_norm(x, weight, bias, eps):
    return LayerNorm.apply(x, weight, bias, eps)


class StraightThroughClamp(torch.autograd.Function):
    """``x.clamp(lo, hi)`` forward; the gradient passes straight through, unchanged."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        """``x.clamp(lo, hi)`` (``lo <= hi`` are floats)."""
        ### BEGIN SOLUTION
        return x.clamp(lo, hi)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        """``(grad_output, None, None)``: unchanged, also where ``x`` was clamped (the straight-through estimator)."""
        ### BEGIN SOLUTION
        return grad_output, None, None
        ### END SOLUTION


def straight_through_clamp(x, lo, hi):
    return StraightThroughClamp.apply(x, lo, hi)
