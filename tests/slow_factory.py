"""A model objective whose every batch arrives after a pause: a sweep of it takes a known
least time on any machine, so a test can kill it in the middle (``slow_factory:build``)."""

import time

import torch

PAUSE = 0.001  # seconds per batch


class SlowBatches:
    """Two fixed batches, each handed over after ``PAUSE`` seconds."""

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        x = torch.randn(32, 3, generator=g)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(32, 1, generator=g)
        self.batches = [(x[:16], y[:16]), (x[16:], y[16:])]

    def __iter__(self):
        for batch in self.batches:
            time.sleep(PAUSE)
            yield batch


def build():
    torch.manual_seed(0)
    # A stack of Linear layers and an MSE loss: lrlab's stacked fast path (no torch.func).
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    return model, torch.nn.MSELoss(), SlowBatches()
