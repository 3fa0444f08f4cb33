"""The command line: JSON contract, exit statuses, one-line errors."""

import json
import subprocess
import sys

import pytest

from lrlab.cli import main


def run_cli(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_json_contract(capsys):
    code, out, _ = run_cli(capsys, "run", "parabola", "--lr", "0.5", "--steps", "20", "--json")
    assert code == 0
    data = json.loads(out)  # exactly one JSON object on stdout
    for key in ("objective", "lr", "steps", "losses", "final_loss", "regime", "diagnosis"):
        assert key in data
    assert set(data["diagnosis"]) >= {"regime", "confidence", "evidence", "advice"}
    assert data["lr"] == 0.5 and data["steps"] == 20 and len(data["losses"]) == 21
    assert data["regime"] == data["diagnosis"]["regime"] == "good"


def test_run_diverging_json_has_no_nan(capsys):
    code, out, _ = run_cli(capsys, "run", "parabola", "--lr", "5", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["final_loss"] is None and data["regime"] == "diverging"


def test_sweep_json_contract(capsys):
    code, out, _ = run_cli(
        capsys,
        "sweep",
        "parabola",
        "--lr-min",
        "0.01",
        "--lr-max",
        "3",
        "--num",
        "9",
        "--steps",
        "50",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) >= {"objective", "steps", "runs", "best_lr"}
    assert len(data["runs"]) == 9
    assert all(set(r) >= {"lr", "final_loss", "regime"} for r in data["runs"])
    # L = 2: every lr above 2/L = 1 diverges, none below.
    for r in data["runs"]:
        assert (r["regime"] == "diverging") == (r["lr"] > 1.0)


def test_objectives_lists_catalogue_and_datasets(capsys):
    code, out, _ = run_cli(capsys, "objectives", "--json")
    names = {r["name"] for r in json.loads(out)["objectives"]}
    assert {"rosenbrock", "hill", "digits-mlp", "cancer-logistic"} <= names
    code, out, _ = run_cli(capsys, "objectives")
    assert code == 0 and "rosenbrock" in out


def test_human_output(capsys):
    code, out, _ = run_cli(capsys, "run", "hill", "--lr", "0.01")
    assert code == 0 and "regime" in out and "advice" in out
    code, out, _ = run_cli(capsys, "sweep", "booth", "--num", "5", "--steps", "50")
    assert code == 0 and "best lr" in out


@pytest.mark.parametrize(
    "args, needle",
    [
        (["run", "rosenbrok", "--lr", "0.1"], "did you mean rosenbrock"),
        (["run", "x + foo(2)", "--lr", "0.1"], "position 4"),
        (["run", "parabola", "--lr", "abc"], "--lr"),
        (["run", "parabola", "--lr", "-1"], "lr=-1.0"),
        (["run", "parabola", "--lr", "nan"], "finite"),
        (["run", "parabola", "--lr", "0.1", "--steps", "0"], "steps=0"),
        (["run", "rosenbrock", "--lr", "0.1", "--start", "1"], "expected 2 numbers"),
        (["run", "rosenbrock", "--lr", "0.1", "--start", "a,b"], "--start"),
        (["run", "parabola"], "--lr"),
        (
            ["sweep", "parabola", "--lr-min", "1", "--lr-max", "0.1"],
            "--lr-min 1 must be smaller than --lr-max 0.1",
        ),
        (["sweep", "parabola", "--num", "0"], "num=0"),
        (["diagnose", "/no/such/file.csv"], "file.csv"),
        (["nosuchcommand"], "nosuchcommand"),
        (["run", "__import__('os').system('echo hi')", "--lr", "0.1"], "position"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, args, needle):
    code, out, err = run_cli(capsys, *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lrlab: error:")
    assert needle in lines[0]
    assert "Traceback" not in err


def test_console_script_subprocess():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "lrlab.cli",
            "run",
            "booth",
            "--lr",
            "0.05",
            "--steps",
            "30",
            "--json",
        ],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["objective"].startswith("booth")
    bad = subprocess.run(
        [sys.executable, "-m", "lrlab.cli", "run", "booth", "--lr", "0"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_no_arguments_prints_the_help(capsys):
    code, out, err = run_cli(capsys)
    assert code == 0 and "Usage" in out and "sweep" in out and err == ""


def test_ctrl_c_exits_130_and_names_the_record_to_resume(tmp_path):
    """A real SIGINT to a real process: typer turns Ctrl-C into a status it returns rather
    than raises, which main() must pass on (status 0 with nothing printed would let a script
    carry on with an empty answer)."""
    import signal
    import time

    from lrlab import store

    db = tmp_path / "r.db"
    cmd = [sys.executable, "-m", "lrlab.cli", "sweep", "rosenbrock", "--num", "4"]
    cmd += ["--steps", "1000000", "--record", "summary", "--json", "--store", str(db)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (db.exists() and store.open(db).list()):  # the sweep has begun
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    (rec,) = store.open(db).list()
    assert proc.returncode == 130 and out == ""
    assert err.strip() == f"lrlab: interrupted; resume it with: lrlab resume {rec.id}"
    assert rec.status == "interrupted" and rec.steps_done < 1_000_000


def test_serve_on_a_port_in_use_is_one_line_and_announces_nothing(capsys):
    """... and changes nothing in the process: a lab that cannot listen does not get to set
    torch's threads (later tests would compute with fewer)."""
    import socket

    import torch

    threads = torch.get_num_threads()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run_cli(capsys, "serve", "--port", str(port), "--no-store")
    assert code == 2 and out == ""
    assert (
        err.strip()
        == f"lrlab: error: cannot listen on 127.0.0.1 port {port}: Address already in use"
    )
    assert torch.get_num_threads() == threads


def test_a_factory_that_raises_is_bad_input_named_as_such(capsys, tmp_path, monkeypatch):
    """The user's code failing is exit 2 in one line that names it, printed as it is (rich
    would turn the ':boom:' of 'factory_raises:boom' into an emoji)."""
    (tmp_path / "factory_raises.py").write_text("def boom():\n    raise RuntimeError('no data')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run_cli(capsys, "run", "factory_raises:boom", "--lr", "0.1", "--no-store")
    assert code == 2 and out == ""
    assert err == "lrlab: error: factory_raises:boom: the function raised RuntimeError: no data\n"
