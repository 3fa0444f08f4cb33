"""The optimizer and record flags of run, sweep and suggest: JSON, and one-line errors."""

import json

import numpy as np
import pytest
import torch

import lrlab
from lrlab.cli import main


def run_cli(capsys, *args):
    code = main([*args, "--no-store"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_with_nesterov_momentum_matches_torch(capsys):
    code, out, _ = run_cli(
        capsys, "run", "x**2", "--lr", "0.1", "--steps", "5", "--start", "1",
        "--momentum", "0.9", "--nesterov", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["optimizer"] == {
        "name": "sgd",
        "momentum": 0.9,
        "dampening": 0.0,
        "nesterov": True,
        "weight_decay": 0.0,
    }
    w = torch.nn.Parameter(torch.tensor([1.0], dtype=torch.float64))
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    ref = []
    for _ in range(5):
        opt.zero_grad()
        loss = (w**2).sum()
        ref.append(loss.item())
        loss.backward()
        opt.step()
    ref.append((w**2).sum().item())
    np.testing.assert_allclose(data["losses"], ref, rtol=1e-12)


def test_run_adam_options_reach_the_rule(capsys):
    code, out, _ = run_cli(
        capsys, "run", "rosenbrock", "--lr", "0.01", "--steps", "5", "--optimizer", "adamw",
        "--betas", "0.8,0.99", "--eps", "1e-6", "--weight-decay", "0.1", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["optimizer"] == {
        "name": "adamw",
        "betas": [0.8, 0.99],
        "eps": 1e-6,
        "weight_decay": 0.1,
        "amsgrad": False,
    }
    ref = lrlab.descend(
        "rosenbrock",
        0.01,
        5,
        optimizer=lrlab.optim.adamw(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    )
    assert data["losses"] == ref.losses.tolist()


def test_sweep_momentum_list_sweeps_the_product(capsys):
    code, out, _ = run_cli(
        capsys, "sweep", "parabola", "--lr-min", "0.01", "--lr-max", "1", "--num", "3",
        "--steps", "30", "--momentum", "0,0.5,0.9", "--record", "summary", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["record"] == "summary" and data["optimizer"]["momentum"] == [0.0, 0.5, 0.9]
    pairs = [(r["lr"], r["momentum"]) for r in data["runs"]]
    assert pairs == [(lr, m) for lr in (0.01, 0.1, 1.0) for m in (0.0, 0.5, 0.9)]
    sw = lrlab.sweep(
        "parabola", [0.01, 0.1, 1.0], 30, optimizer=lrlab.optim.sgd(momentum=[0.0, 0.5, 0.9])
    )
    assert data["best"] == {"lr": sw.best.lr, "momentum": sw.best.optimizer.momentum}


def test_a_swept_momentum_has_its_column_in_every_table(capsys, tmp_path):
    """The text, ``show`` and the CSV name each run's momentum, and mark only the best run
    (two runs share each learning rate)."""
    url = f"sqlite:///{tmp_path / 'r.db'}"

    def cli(*args):
        code = main([*args, "--store", url])
        return code, capsys.readouterr().out

    args = ["parabola", "--lr-min", "0.01", "--lr-max", "1", "--num", "2", "--steps", "5"]
    code, out = cli("sweep", *args, "--momentum", "0,0.9")
    assert code == 0 and "2 runs x" not in out and "4 runs x 5 steps" in out
    sw = lrlab.sweep("parabola", [0.01, 1.0], 5, optimizer=lrlab.optim.sgd(momentum=[0.0, 0.9]))
    best = (f"{sw.best.lr:.4g} *", str(sw.best.optimizer.momentum))
    (rec,) = lrlab.store.open(url).list()
    code, shown = cli("show", rec.id)
    for text in (out, shown):
        rows = [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines()]
        rows = [r for r in rows if r]
        assert [r[1] for r in rows] == ["0.0", "0.9", "0.0", "0.9"]
        assert [tuple(r[:2]) for r in rows if r[0].endswith("*")] == [best]
    code, table = cli("export", rec.id, "--format", "csv")
    lines = table.splitlines()
    assert lines[0] == "lane,lr,momentum,step,loss,grad_norm"
    assert [line.split(",")[2] for line in lines[1::6]] == ["0.0", "0.9", "0.0", "0.9"]


def test_sweep_every_kth_step(capsys):
    code, out, _ = run_cli(
        capsys, "sweep", "parabola", "--num", "2", "--steps", "20", "--record", "5", "--json"
    )
    assert code == 0 and json.loads(out)["record"] == 5


def test_suggest_for_adam(capsys):
    code, out, _ = run_cli(
        capsys, "suggest", "parabola", "--steps", "30", "--optimizer", "adam", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["optimizer"]["name"] == "adam"
    assert data["methods"]["curvature"]["lr"] is None  # 2/L does not bound Adam


@pytest.mark.parametrize(
    "args, words",
    [
        (["run", "parabola", "--lr", "0.1", "--optimizer", "adma"], "did you mean adam"),
        (["run", "parabola", "--lr", "0.1", "--nesterov"], "Nesterov"),
        (["run", "parabola", "--lr", "0.1", "--optimizer", "adam", "--betas", "1,0.9"], "[0, 1)"),
        (
            ["run", "parabola", "--lr", "0.1", "--optimizer", "adam", "--betas", "0.9"],
            "two numbers",
        ),
        (
            ["run", "parabola", "--lr", "0.1", "--optimizer", "adam", "--momentum", "0.9"],
            "adam takes",
        ),
        (["run", "parabola", "--lr", "0.1", "--optimizer", "adam", "--eps", "-1"], "eps"),
        (["run", "parabola", "--lr", "0.1", "--weight-decay", "-0.1"], "weight_decay"),
        (["run", "parabola", "--lr", "0.1", "--momentum", "0,0.9"], "sweep takes a list"),
        (["run", "parabola", "--lr", "0.1", "--momentum", "fast"], "--momentum"),
        (["sweep", "parabola", "--record", "half"], "--record"),
        (["sweep", "parabola", "--record", "0"], "--record"),
        (["suggest", "parabola", "--optimizer", "sgd", "--momentum", "0,0.9"], "one value"),
    ],
)
def test_bad_optimizer_flags_exit_2_with_one_line(capsys, args, words):
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and words in err
