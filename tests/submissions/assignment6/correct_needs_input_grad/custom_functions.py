"""Only the gradients that are needed, None for the others."""
import torch


class Softplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = torch.relu(x) + torch.log1p(torch.exp(-torch.abs(x)))
        ctx.save_for_backward(x)
        return out

    @staticmethod
    def backward(ctx, grad_output):
        if not ctx.needs_input_grad[0]:
            return None
        (x,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(x)


class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target):
        probs = torch.softmax(logits, dim=1)
        ctx.save_for_backward(probs, target)
        picked = torch.gather(logits, 1, target[:, None])[:, 0]
        return torch.mean(torch.logsumexp(logits, dim=1) - picked)

    @staticmethod
    def backward(ctx, grad_output):
        probs, target = ctx.saved_tensors
        grad = probs.clone()
        grad[range(len(target)), target] -= 1.0
        return grad * grad_output / len(target), None


class LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ctx.eps = eps
        ctx.save_for_backward(x, weight)
        mean = x.mean(1, keepdim=True)
        var = x.var(1, unbiased=False, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * weight + bias

    @staticmethod
    def backward(ctx, grad_output):
        x, weight = ctx.saved_tensors
        mean = x.mean(1, keepdim=True)
        var = x.var(1, unbiased=False, keepdim=True)
        inv = (var + ctx.eps) ** -0.5
        x_hat = (x - mean) * inv
        dx = dw = db = None
        if ctx.needs_input_grad[0]:
            d = x.shape[1]
            g = grad_output * weight
            dx = (inv / d) * (d * g - g.sum(1, keepdim=True) - x_hat * (g * x_hat).sum(1, keepdim=True))
        if ctx.needs_input_grad[1]:
            dw = torch.einsum("nd,nd->d", grad_output, x_hat)
        if ctx.needs_input_grad[2]:
            db = torch.einsum("nd->d", grad_output)
        return dx, dw, db, None


class StraightThroughClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, grad_output):
        return (grad_output if ctx.needs_input_grad[0] else None), None, None


def softplus(x):
    return Softplus.apply(x)


def softmax_cross_entropy(logits, target):
    return SoftmaxCrossEntropy.apply(logits, target)


def layer_norm(x, weight, bias, eps):
    return LayerNorm.apply(x, weight, bias, eps)


def straight_through_clamp(x, lo, hi):
    return StraightThroughClamp.apply(x, lo, hi)
