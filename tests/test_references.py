"""The references are torch itself: the functional SGD step equals torch.optim.SGD.step."""

from __future__ import annotations

import torch

from conftest import ROOT
from grader.checks import assignment_module

ref = assignment_module(ROOT / "assignments" / "assignment2" / "references.py", "references")


def test_sgd_reference_matches_torch_optim_sgd():
    g = torch.Generator().manual_seed(3)
    for dtype in (torch.float32, torch.float64):
        params = [ref.leaf(torch.randn(4, 1, generator=g, dtype=dtype), torch.randn(4, 1, generator=g, dtype=dtype)),
                  ref.leaf(torch.randn(1, dtype=dtype)),  # no gradient: skipped
                  ref.leaf(torch.randn(2, 3, generator=g, dtype=dtype), torch.randn(2, 3, generator=g, dtype=dtype))]
        expected = [ref.leaf(p, p.grad) for p in params]
        torch.optim.SGD(expected, lr=0.05).step()
        for got, want in zip(ref.sgd_step(params, 0.05), expected):
            assert torch.equal(got, want.detach())


def test_train_reference_matches_an_optim_sgd_loop():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(9, 2, generator=g), torch.randn(9, 1, generator=g)
    w, b = torch.randn(2, 1, generator=g), torch.randn(1, generator=g)
    losses, w_ref, b_ref = ref.train(x, y, w, b, 0.1, 6)
    w2, b2 = ref.leaf(w), ref.leaf(b)
    opt = torch.optim.SGD([w2, b2], lr=0.1)
    expected = []
    for _ in range(6):
        loss = torch.nn.functional.mse_loss(torch.nn.functional.linear(x, w2.T, b2), y)
        expected.append(loss.item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert torch.equal(losses, torch.tensor(expected))
    assert torch.equal(w_ref, w2.detach()) and torch.equal(b_ref, b2.detach())
