import torch
from torch import nn, optim


class LinearModel(nn.Module):
    def __init__(self, in_features=1, out_features=1):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.activation = nn.Identity()   # no parameters: allowed

    def forward(self, x):
        return self.activation(self.linear(x))


def make_optimizer(model, lr):
    params = list(model.parameters())
    return optim.SGD(params, lr)


def train_step(model, optimizer, criterion, x, y):
    model.zero_grad()
    loss = criterion(model.forward(x), y)
    loss.backward()
    optimizer.step()
    return loss.detach().item()


def fit(x, y, lr, epochs, seed):
    torch.manual_seed(seed)
    n_in, n_out = x.size(1), y.size(1)
    model = LinearModel(n_in, n_out)
    opt = make_optimizer(model, lr)
    loss_fn = nn.MSELoss()
    epoch = 0
    while epoch < epochs:
        train_step(model, opt, loss_fn, x, y)
        epoch += 1
    return model
