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
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """``grad_output * sigmoid(x)``."""
        raise NotImplementedError


def softplus(x):
    return Softplus.apply(x)


class SoftmaxCrossEntropy(torch.autograd.Function):
    """The mean cross-entropy of ``(N, C)`` logits against ``(N,)`` int64 class indices."""

    @staticmethod
    def forward(ctx, logits, target):
        """The mean over the N rows of ``logsumexp(logits[i]) - logits[i, target[i]]``, a 0-dim tensor of
        ``logits``' dtype, finite for logits up to ``+-1e4``."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """``(grad_output * (softmax(logits) - onehot(target)) / N, None)``: no gradient for the indices."""
        raise NotImplementedError


def softmax_cross_entropy(logits, target):
    return SoftmaxCrossEntropy.apply(logits, target)


class LayerNorm(torch.autograd.Function):
    """Each row of an ``(N, D)`` input normalised by its mean and biased variance, then scaled and shifted."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        """``(x - mean) / sqrt(var + eps) * weight + bias`` per row (``var`` biased: divided by D);
        ``weight`` and ``bias`` are ``(D,)``, ``eps`` a float."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """``(dx, dweight, dbias, None)`` with the shapes of ``x``, ``weight`` and ``bias``; ``None`` for ``eps``
        (``None`` is also allowed for an input whose ``ctx.needs_input_grad`` is False)."""
        raise NotImplementedError


def layer_norm(x, weight, bias, eps):
    return LayerNorm.apply(x, weight, bias, eps)


class StraightThroughClamp(torch.autograd.Function):
    """``x.clamp(lo, hi)`` forward; the gradient passes straight through, unchanged."""

    @staticmethod
    def forward(ctx, x, lo, hi):
        """``x.clamp(lo, hi)`` (``lo <= hi`` are floats)."""
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad_output):
        """``(grad_output, None, None)``: unchanged, also where ``x`` was clamped (the straight-through estimator)."""
        raise NotImplementedError


def straight_through_clamp(x, lo, hi):
    return StraightThroughClamp.apply(x, lo, hi)
