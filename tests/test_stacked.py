"""The stacked fast path gives the same costs and gradients as one model per lane."""

import pytest
import torch
from torch import nn

from lrlab import stacked
from lrlab.stacked import Unsupported, stacked_lanes


def per_lane(model, loss_fn, W, x, y, l2):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    costs, grads = [], []
    for w in W:
        w = w.clone().requires_grad_(True)
        pieces = w.split([s.numel() for s in shapes])
        params = dict(zip(names, (c.view(s) for c, s in zip(pieces, shapes))))
        out = torch.func.functional_call(model, params, (x,))
        loss = loss_fn(out, y) + 0.5 * l2 * w.pow(2).sum()
        (g,) = torch.autograd.grad(loss, w)
        costs.append(loss.detach())
        grads.append(g)
    return torch.stack(costs), torch.stack(grads)


@pytest.mark.parametrize(
    "model, loss_fn, make_y",
    [
        (nn.Linear(5, 1), nn.MSELoss(), lambda n: torch.randn(n, 1)),
        (nn.Linear(5, 3), nn.MSELoss(), lambda n: torch.randn(n, 3)),
        (nn.Linear(5, 1), nn.BCEWithLogitsLoss(), lambda n: torch.randint(0, 2, (n, 1)).float()),
        (
            nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)),
            nn.CrossEntropyLoss(),
            lambda n: torch.randint(0, 4, (n,)),
        ),
        (
            nn.Sequential(
                nn.Linear(5, 6),
                nn.ReLU(),
                nn.Sequential(nn.Linear(6, 6, bias=False), nn.GELU()),
                nn.Linear(6, 3),
            ),
            nn.CrossEntropyLoss(),
            lambda n: torch.randint(0, 3, (n,)),
        ),
    ],
)
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_matches_per_lane_autograd(model, loss_fn, make_y, l2):
    torch.manual_seed(0)
    fn = stacked_lanes(model, loss_fn, l2)
    assert fn is not None
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(4, dim)
    x, y = torch.randn(11, 5), make_y(11)
    costs, grads = fn(W, (x, y))
    ref_c, ref_g = per_lane(model, loss_fn, W, x, y, l2)
    torch.testing.assert_close(costs, ref_c, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads, ref_g, rtol=1e-5, atol=1e-6)


def test_unsupported_models_and_losses_fall_back():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            return self.lin(x) * 2

    assert stacked_lanes(Custom(), nn.MSELoss(), 0.0) is None
    assert stacked_lanes(nn.Sequential(nn.Linear(2, 2), nn.Dropout()), nn.MSELoss(), 0.0) is None
    assert stacked_lanes(nn.Linear(2, 2), nn.MSELoss(reduction="sum"), 0.0) is None
    assert stacked_lanes(nn.Linear(2, 2), nn.CrossEntropyLoss(label_smoothing=0.1), 0.0) is None
    fn = stacked_lanes(nn.Linear(2, 3), nn.CrossEntropyLoss(), 0.0)
    with pytest.raises(Unsupported):
        fn(torch.zeros(2, 9), (torch.randn(4, 2), torch.tensor([0, 1, -100, 2])))


@pytest.mark.parametrize(
    "model, loss_fn, make_y",
    [
        (
            nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 4)),
            nn.CrossEntropyLoss(),
            lambda n: torch.randint(0, 4, (n,)),
        ),
        # Activations after activations, an activation last, layers without bias.
        (
            nn.Sequential(
                nn.Linear(5, 6),
                nn.Sigmoid(),
                nn.Tanh(),
                nn.Linear(6, 6, bias=False),
                nn.GELU(),
                nn.ReLU(),
                nn.Linear(6, 2),
                nn.Sigmoid(),
            ),
            nn.MSELoss(),
            lambda n: torch.randn(n, 2),
        ),
        (
            nn.Sequential(nn.Linear(5, 6, bias=False), nn.Identity(), nn.SiLU(), nn.Linear(6, 1)),
            nn.BCEWithLogitsLoss(),
            lambda n: torch.randint(0, 2, (n, 1)).float(),
        ),
    ],
)
@pytest.mark.parametrize("columns", [1, 4, 11])  # 11 blocks of 1 sample, 4 + 4 + 3, one block
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blocks_of_samples_add_up_to_the_full_batch(
    model, loss_fn, make_y, columns, dtype, monkeypatch
):
    widest = max(m.out_features for m in model.modules() if isinstance(m, nn.Linear))
    monkeypatch.setattr(stacked, "CPU_BLOCK_BYTES", columns * 4 * widest * dtype.itemsize)
    torch.manual_seed(1)
    model = model.to(dtype)
    fn = stacked_lanes(model, loss_fn, 0.01)
    dim = sum(p.numel() for p in model.parameters())
    W = torch.randn(4, dim, dtype=dtype)
    x, y = torch.randn(11, 5, dtype=dtype), make_y(11)
    y = y.to(dtype) if y.is_floating_point() else y
    costs, grads = fn(W, (x, y))
    ref_c, ref_g = per_lane(model, loss_fn, W, x, y, 0.01)
    torch.testing.assert_close(costs, ref_c, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads, ref_g, rtol=1e-5, atol=1e-6)


def test_reused_buffers_leave_earlier_results_alone():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))
    fn = stacked_lanes(model, nn.CrossEntropyLoss(), 0.0)
    x, y = torch.randn(9, 5), torch.randint(0, 3, (9,))
    W = torch.randn(6, 5 * 7 + 7 + 7 * 3 + 3)
    costs, grads = fn(W, (x, y))
    kept = costs.clone(), grads.clone()
    # Fewer lanes, as after some retire, then a second batch: same buffers, same answers.
    fewer = fn(W[2:], (x, y))
    fn(torch.randn_like(W), (torch.randn(9, 5), y))
    torch.testing.assert_close((costs, grads), kept, rtol=0, atol=0)
    torch.testing.assert_close(fewer, (costs[2:], grads[2:]), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bias", [True, False])
def test_a_call_that_went_nan_leaves_nothing_in_the_next(bias):
    # The first block of samples sets each gradient instead of adding to a zeroed buffer:
    # what an earlier call left there (NaN from a diverged lane) must not reach the next.
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 7, bias=bias), nn.Tanh(), nn.Linear(7, 3))
    dim = sum(p.numel() for p in model.parameters())
    x, y = torch.randn(9, 5), torch.randint(0, 3, (9,))
    W = torch.randn(4, dim)
    clean = stacked_lanes(model, nn.CrossEntropyLoss(), 0.01)(W, (x, y))
    fn = stacked_lanes(model, nn.CrossEntropyLoss(), 0.01)
    went_bad = fn(torch.full_like(W, float("nan")), (x, y))
    assert went_bad[1].isnan().all()
    torch.testing.assert_close(fn(W, (x, y)), clean, rtol=0, atol=0)


def test_saturated_logits_give_no_subnormal_gradient():
    # Logits about 95 apart put softmax probabilities below float32's smallest normal number:
    # the cross-entropy's gradient flushes them to zero (they would slow every product that
    # reads them) and still equals autograd's to float tolerance.
    torch.manual_seed(0)
    y = torch.randint(0, 5, (64,))
    logits = torch.randn(2, 5, 64)
    logits[1] *= 95 / logits[1].abs().max()
    block_loss, _ = stacked._block_loss(nn.CrossEntropyLoss(), y)
    _, grad = block_loss(logits.clone(), slice(0, 64), stacked._Buffers())
    tiny = torch.finfo(torch.float32).tiny
    ref = logits.clone().requires_grad_(True)
    loss = sum(nn.functional.cross_entropy(ref[k].T, y) for k in range(2))
    (expected,) = torch.autograd.grad(loss, ref)
    assert ((expected != 0) & (expected.abs() < tiny)).any()  # the case is real
    # What is kept is at least the square root of the smallest normal float, so that its
    # products further back (with a weight, with a tanh slope) stay normal too.
    assert not ((grad != 0) & (grad.abs() < tiny**0.5)).any()
    torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-7)
