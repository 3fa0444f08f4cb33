"""The command line and the store: what commands record, history/show/export/rm/resume, bad
stores refused in one line, and a sweep killed with SIGKILL resumed to the uninterrupted
result."""

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import lrlab
from lrlab import descent, records, store
from lrlab._format import json_safe
from lrlab.cli import main
from lrlab.objectives import from_factory

TESTS = Path(__file__).parent


def cli(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code, err):
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_commands_record_what_they_print(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    log = tmp_path / "loss.csv"
    log.write_text("step,loss\n" + "".join(f"{t},{1 / (t + 1)}\n" for t in range(30)))
    made = {}
    for kind, args in {
        "run": ("run", "parabola", "--lr", "0.5", "--steps", "20"),
        "sweep": ("sweep", "rosenbrock", "--num", "4", "--steps", "30"),
        "suggestion": ("suggest", "parabola", "--steps", "20"),
        "diagnosis": ("diagnose", log),
    }.items():
        code, out, _ = cli(capsys, *args, "--store", url, "--json")
        assert code == 0
        made[kind] = json.loads(out)
        assert len(made[kind]["id"]) == 12

    code, out, _ = cli(capsys, "history", "--store", url, "--json")
    listed = {r["id"]: r for r in json.loads(out)}
    assert {r["kind"] for r in listed.values()} == set(made)
    assert all(r["status"] == "done" for r in listed.values())
    assert listed[made["sweep"]["id"]]["steps_done"] == 30
    assert listed[made["diagnosis"]["id"]]["objective"] == str(log)

    for printed in made.values():  # a record keeps exactly what its command printed
        code, out, _ = cli(capsys, "show", printed["id"], "--store", url, "--json")
        assert json.loads(out)["output"] == printed

    # The curves, against the same sweep run here.
    sw = lrlab.sweep("rosenbrock", lrs=lrlab.lr_grid(1e-4, 1.0, 4), steps=30)
    code, out, _ = cli(capsys, "export", made["sweep"]["id"], "--store", url, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    lane0 = [float(r["loss"]) for r in rows if r["lane"] == "0"]
    assert lane0 == sw.runs[0].losses.tolist()
    code, out, _ = cli(capsys, "export", made["run"]["id"], "--store", url, "--format", "json")
    assert json.loads(out)["output"]["losses"] == made["run"]["losses"]

    code, out, _ = cli(
        capsys, "show", made["sweep"]["id"], "--store", url, "--plot", tmp_path / "s.png"
    )
    assert code == 0 and (tmp_path / "s.png").stat().st_size > 0 and "rosenbrock" in out

    code, out, _ = cli(capsys, "rm", made["run"]["id"], "--store", url)
    assert code == 0
    one_line_error(*cli(capsys, "show", made["run"]["id"], "--store", url)[::2])


def test_rm_leaves_a_running_record_alone_unless_forced(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    st = store.open(url)
    rid = st.begin("sweep", "parabola", params={}, steps=10, lanes=2, slices=[(0, 2)])  # live
    code, _, err = cli(capsys, "rm", rid, "--store", url)
    one_line_error(code, err)
    assert "still running" in err and st.get(rid).status == "running"
    assert cli(capsys, "rm", rid, "--store", url, "--force")[:2] == (0, f"deleted {rid}\n")
    assert st.list() == []


def test_reading_a_store_that_does_not_exist_creates_nothing(capsys, tmp_path):
    missing = tmp_path / "typo" / "runs.db"
    code, out, _ = cli(capsys, "history", "--store", missing, "--json")
    assert code == 0 and json.loads(out) == []
    for command in (["show", "abc"], ["export", "abc", "--format", "csv"]):
        code, _, err = cli(capsys, *command, "--store", missing)
        one_line_error(code, err)
        assert "does not exist" in err
    assert not missing.parent.exists()


def test_no_store_records_nothing_and_the_environment_names_the_store(
    capsys, tmp_path, monkeypatch
):
    path = tmp_path / "env.db"
    monkeypatch.setenv("LRLAB_STORE", str(path))
    code, out, _ = cli(
        capsys, "run", "parabola", "--lr", "0.5", "--steps", "5", "--no-store", "--json"
    )
    assert code == 0 and "id" not in json.loads(out) and not path.exists()
    code, out, _ = cli(capsys, "run", "parabola", "--lr", "0.5", "--steps", "5", "--json")
    assert [r.id for r in store.open(path).list()] == [json.loads(out)["id"]]


def test_a_foreign_store_is_refused_in_one_line_and_left_untouched(capsys, tmp_path):
    path = tmp_path / "thesis.db"
    path.write_bytes(os.urandom(2048))
    before = path.read_bytes()
    for args in (("sweep", "parabola", "--num", "3"), ("history",), ("resume", "abc")):
        code, out, err = cli(capsys, *args, "--store", path)
        one_line_error(code, err)
        assert "not an lrlab store" in err and out == ""
    assert path.read_bytes() == before


def test_a_read_only_store_is_refused_before_any_work(capsys):
    # The objective is bad too; the store is what is reported: it was checked first.
    code, _, err = cli(capsys, "sweep", "no-such-objective", "--store", "/proc/lrlab/r.db")
    one_line_error(code, err)
    assert "cannot be written" in err


def test_a_killed_sweep_resumes_to_the_uninterrupted_result(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    args = ["sweep", "slow_factory:build", "--lr-min", "1e-3", "--lr-max", "0.5", "--num", "4"]
    args += ["--steps", "500"]
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; from lrlab.cli import main; sys.exit(main())"]
        + args
        + ["--store", url, "--checkpoint-every", "0.05", "--json"],
        cwd=TESTS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    st = store.open(url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # SIGKILL right after the first checkpoint
        found = st.list()
        if found and found[0].steps_done:
            child.send_signal(signal.SIGKILL)
            break
        assert child.poll() is None, child.stderr.read().decode()
        time.sleep(0.01)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    (rec,) = st.list()
    assert rec.status == "interrupted" and 0 < rec.steps_done < 500

    code, history, _ = cli(capsys, "history", "--store", url)
    assert "interrupted" in history
    code, _, err = cli(capsys, "export", rec.id, "--format", "csv", "--store", url)
    one_line_error(code, err)
    assert f"lrlab resume {rec.id}" in err  # not an empty table with status 0
    code, resumed, err = cli(capsys, "resume", rec.id[:8], "--store", url, "--json")
    assert code == 0, err
    assert st.get(rec.id).status == "done"

    # The same sweep run here in one go: what the command prints, and every lane's every
    # step, bit for bit.
    sys.path.insert(0, str(TESTS))
    try:
        want = descent.sweep(from_factory("slow_factory:build"), lrlab.lr_grid(1e-3, 0.5, 4), 500)
    finally:
        sys.path.remove(str(TESTS))
    printed = json.loads(json.dumps(json_safe(want.to_dict())))
    assert json.loads(resumed) == {**printed, "id": rec.id}
    got = records.load(rec.id, store=st)
    for name in ("losses", "grad_norms", "final", "diverged_at"):
        np.testing.assert_array_equal(getattr(got._lanes, name), getattr(want._lanes, name))


@pytest.mark.parametrize("bad", [("--checkpoint-every", "-1"), ("--backend", "spark")])
def test_bad_sweep_options_are_one_line(capsys, tmp_path, bad):
    one_line_error(*cli(capsys, "sweep", "parabola", "--store", tmp_path / "r.db", *bad)[::2])
