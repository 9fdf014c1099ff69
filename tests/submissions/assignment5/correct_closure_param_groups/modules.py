import torch


class LinearModel(torch.nn.Module):
    def __init__(self, in_features=1, out_features=1):
        super().__init__()
        self.linear = torch.nn.Linear(in_features, out_features)

    def forward(self, x):
        return torch.nn.functional.linear(x, self.linear.weight, self.linear.bias)


def make_optimizer(model, lr):
    return torch.optim.SGD([{"params": [p for _, p in model.named_parameters()]}], lr=lr)


def train_step(model, optimizer, criterion, x, y):
    def closure():
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    return loss.item()


def fit(x, y, lr, epochs, seed):
    torch.manual_seed(seed)
    model = LinearModel(x.shape[1], y.shape[1])
    optimizer = make_optimizer(model, lr)
    criterion = torch.nn.MSELoss()
    losses = [train_step(model, optimizer, criterion, x, y) for _ in range(epochs)]
    return model
