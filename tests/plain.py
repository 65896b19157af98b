"""The reference every fast trainer is checked against: one nn.Module, a torch.optim optimiser,
BCE on a sigmoid output, minibatches in the order of fpe.training.stacked.batch_order."""
from torch import nn

from fpe.training.stacked import batch_order


def plain_train(model, opt, x, y, *, epochs, batch_size, order_gen):
    for _ in range(epochs):
        perm = batch_order(len(x), order_gen)
        for start in range(0, len(x), batch_size):
            idx = perm[start:start + batch_size]
            loss = nn.functional.binary_cross_entropy_with_logits(model(x[idx]).squeeze(-1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model
