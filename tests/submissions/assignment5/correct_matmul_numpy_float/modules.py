import numpy as np
import torch


class LinearModel(torch.nn.Module):
    def __init__(self, in_features=1, out_features=1):
        torch.nn.Module.__init__(self)
        self.linear = torch.nn.Linear(in_features, out_features)

    def forward(self, x):
        return x @ self.linear.weight.T + self.linear.bias


def make_optimizer(model, lr):
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)


def train_step(model, optimizer, criterion, x, y):
    optimizer.zero_grad(set_to_none=False)
    prediction = model(x)
    loss = criterion(prediction, y)
    loss.backward()
    optimizer.step()
    return float(np.float64(loss.detach().numpy()))


def fit(x, y, lr, epochs, seed):
    torch.manual_seed(seed)
    model = LinearModel(x.shape[-1], y.shape[-1])
    optimizer = make_optimizer(model, lr)
    mse = torch.nn.MSELoss()
    for _ in range(epochs):
        train_step(model, optimizer, mse, x, y)
    model.eval()
    return model
