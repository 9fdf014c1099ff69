"""Assignment 5 keeps its promises: the README example is true, the references are torch's own."""

from __future__ import annotations

import torch

from conftest import ROOT, readme_example_output
from grader.checks import assignment_module

ref = assignment_module(ROOT / "assignments" / "assignment5" / "references.py", "references")
Criterion = ref.Criterion


def test_assignment5_readme_worked_example_is_true(monkeypatch):
    printed = readme_example_output("assignment5", monkeypatch)
    assert printed == ["14.79", "11.73", "7.29", "7.92"]


def test_sgd_reference_matches_torch_optim_sgd_with_any_settings():
    """The train_step reference follows whatever SGD settings the student's optimizer has."""
    g = torch.Generator().manual_seed(8)
    batches = [(torch.randn(6, 3, generator=g), torch.randn(6, 2, generator=g)) for _ in range(3)]
    for kwargs in ({}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
                   {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1}, {"maximize": True}):
        for criterion in (torch.nn.MSELoss(), Criterion("asymmetric").build()):
            layer = torch.nn.Linear(3, 2)
            weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
            opt = torch.optim.SGD(layer.parameters(), lr=0.05, **kwargs)
            settings = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
            expected = []
            for x, y in batches:
                opt.zero_grad()
                loss = criterion(layer(x), y)
                loss.backward()
                opt.step()
                expected.append(loss.item())
            losses, weights, biases = ref.train_steps(weight, bias, [(settings, ["weight", "bias"])], criterion, batches)
            assert [v.item() for v in losses] == expected
            assert torch.equal(weights[-1], layer.weight.detach()) and torch.equal(biases[-1], layer.bias.detach())


def test_reference_groups_leave_out_parameters_the_optimizer_does_not_hold():
    layer = torch.nn.Linear(2, 1)
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    opt = torch.optim.SGD([layer.weight], lr=0.1)
    x, y = torch.randn(4, 2), torch.randn(4, 1)
    opt.zero_grad()
    torch.nn.MSELoss()(layer(x), y).backward()
    opt.step()
    _, weights, biases = ref.train_steps(weight, bias, [(ref.sgd_settings(0.1), ["weight"])], torch.nn.MSELoss(), [(x, y)])
    assert torch.equal(weights[0], layer.weight.detach()) and torch.equal(biases[0], bias)


def test_fit_reference_seeds_then_builds_and_leaves_the_global_rng_alone():
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    state = torch.get_rng_state()
    weight, bias = ref.fit(x, y, 0.1, 0, 11)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(11)
    layer = torch.nn.Linear(3, 2)
    assert torch.equal(weight, layer.weight.detach()) and torch.equal(bias, layer.bias.detach())
    opt = torch.optim.SGD(layer.parameters(), lr=0.1)
    for _ in range(4):
        opt.zero_grad()
        torch.nn.MSELoss()(layer(x), y).backward()
        opt.step()
    weight, bias = ref.fit(x, y, 0.1, 4, 11)
    assert torch.equal(weight, layer.weight.detach()) and torch.equal(bias, layer.bias.detach())


def test_sgd_settings_are_torch_defaults():
    layer = torch.nn.Linear(2, 2)
    group = torch.optim.SGD(layer.parameters(), lr=0.3).param_groups[0]
    assert ref.sgd_settings(0.3) == {k: group[k] for k in ref.SETTINGS}
    assert ref.parameter_shapes(3, 2) == {"linear.weight": (2, 3), "linear.bias": (2,)}


def test_init_bound_is_nn_linear_initialisation():
    for in_features in (1, 4, 16):
        layer = torch.nn.Linear(in_features, 64).requires_grad_(False)
        bound = ref.init_bound(in_features)
        assert float(layer.weight.abs().max()) <= bound and float(layer.bias.abs().max()) <= bound
        assert float(layer.weight.abs().max()) > 0.9 * bound
