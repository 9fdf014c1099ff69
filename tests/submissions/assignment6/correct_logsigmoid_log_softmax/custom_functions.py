import torch
import torch.nn.functional as F


class Softplus(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return -F.logsigmoid(-x)  # log(1 + e^x) = -log(sigmoid(-x))

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.sigmoid(x) * grad_output


class SoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target):
        logp = F.log_softmax(logits, dim=-1)
        ctx.save_for_backward(logp, target)
        return -logp[torch.arange(len(target)), target].mean()

    @staticmethod
    def backward(ctx, grad_output):
        logp, target = ctx.saved_tensors
        p = logp.exp()
        p = p - F.one_hot(target, num_classes=p.shape[1]).to(p.dtype)
        return grad_output * p / p.shape[0], None


class LayerNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        rstd = 1.0 / torch.sqrt(var + eps)
        xn = (x - mu) * rstd
        ctx.save_for_backward(xn, rstd, weight)
        return xn * weight + bias

    @staticmethod
    def backward(ctx, grad_output):
        xn, rstd, weight = ctx.saved_tensors
        gx = grad_output * weight
        dx = rstd * (gx - gx.mean(-1, keepdim=True) - xn * (gx * xn).mean(-1, keepdim=True))
        dw = (grad_output * xn).sum(0)
        db = grad_output.sum(0)
        return dx, dw, db, None


class StraightThroughClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        return x.clamp(min=lo).clamp(max=hi)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None, None


def softplus(x):
    return Softplus.apply(x)


def softmax_cross_entropy(logits, target):
    return SoftmaxCrossEntropy.apply(logits, target)


def layer_norm(x, weight, bias, eps):
    return LayerNorm.apply(x, weight, bias, eps)


def straight_through_clamp(x, lo, hi):
    return StraightThroughClamp.apply(x, lo, hi)
