"""`lrlab watch` on a log that grows while it reads it, and `lrlab diagnose` on the new formats."""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import pytest

from lrlab import logs
from lrlab.cli import main

# a run written in phases whose regimes are known from the curve's closed form:
# 0.3 + 2 exp(-t / 150) is still falling steadily after 100 steps (too_low), flat after 1500
# (good); then the loss blows up to inf (diverging)
DECAY = [0.3 + 2 * math.exp(-t / 150) for t in range(1500)]
WAIT = 240  # seconds: generous, the machine running the suite may be loaded


class Lines:
    """The lines of a stream, read by a thread so that the test can wait for them."""

    def __init__(self, stream):
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def wait_for(self, words: str) -> str:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if words in line:
                return line
        raise AssertionError(f"no line with {words!r} within {WAIT} s; saw {self.seen}")


def append(path, text):
    with open(path, "a") as fh:
        fh.write(text)
        fh.flush()


def test_watch_follows_a_growing_log_and_exits_0_on_ctrl_c(tmp_path):
    log = tmp_path / "train.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrlab.cli", "watch", str(log), "--interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        err.wait_for("train.csv does not exist yet")
        rows = [f"{t},{v:.6f}\n" for t, v in enumerate(DECAY)]
        # the first 100 steps, the last line cut in the middle as a writer leaves it
        append(log, "step,loss\n" + "".join(rows[:99]) + rows[99][:4])
        first = out.wait_for("too_low")
        assert first.startswith("step 98 (99 points): too_low")  # the cut line is not read
        append(log, rows[99][4:] + "".join(rows[100:]))
        assert out.wait_for("good").startswith("step 1499 (1500 points): good")
        append(log, "1500,50.0\n1501,3000.0\n1502,inf\n")
        assert out.wait_for("diverging").startswith("step 1502 (1503 points): diverging")
        log.write_text("step,loss\n" + "".join(rows[:100]))  # a new run, same file
        err.wait_for("started over")
        assert out.wait_for("too_low").startswith("step 99 (100 points): too_low")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=WAIT) == 0
        regimes = [line.split(": ")[1].split()[0] for line in out.seen]
        assert regimes == ["too_low", "good", "diverging", "too_low"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ------------------------------------------------------- the command line, in this process


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_diagnose_reads_an_mlflow_run_and_a_lightning_version_directory(tmp_path, capsys):
    run = tmp_path / "mlruns" / "0" / "abc"
    (run / "metrics").mkdir(parents=True)
    (run / "meta.yaml").write_text("run_id: abc\n")
    (run / "metrics" / "train_loss").write_text(
        "".join(f"{1700000000000 + t} {2.0 * 1.5**t} {t}\n" for t in range(40))
    )
    code, out, _ = run_cli(["diagnose", str(run), "--json", "--no-store"], capsys)
    assert code == 0
    d = json.loads(out)
    assert (d["regime"], d["column"], d["points"]) == ("diverging", "train_loss", 40)
    version = tmp_path / "lightning_logs" / "version_0"
    version.mkdir(parents=True)
    (version / "metrics.csv").write_text(
        "epoch,step,train_loss_step,val_loss\n"
        + "".join(f"0,{t},{DECAY[t]},\n" for t in range(1500))
        + "0,1499,,0.4\n"
    )
    code, out, _ = run_cli(["diagnose", str(version), "--json", "--no-store"], capsys)
    assert code == 0 and json.loads(out)["regime"] == "good"
    assert json.loads(out)["column"] == "train_loss_step"


@pytest.mark.parametrize("command", ["diagnose", "watch"])
def test_logs_no_more_data_can_fix_exit_2_with_one_line(tmp_path, capsys, monkeypatch, command):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path / "tb"))
    for t in range(3):
        w.add_scalar("loss", 1.0 / (t + 1), t)
    w.close()
    (event,) = (tmp_path / "tb").glob("events.out.tfevents.*")
    cut = tmp_path / "cut" / event.name
    cut.parent.mkdir()
    cut.write_bytes(event.read_bytes()[:-5])
    binary = tmp_path / "model.pt"
    binary.write_bytes(b"\x80\x02\x00\x00" * 64)
    cases = {binary: "binary content"}
    if command == "diagnose":  # a live reader waits for the rest of a cut record
        cases[cut] = "truncated"
        empty = tmp_path / "empty.csv"
        empty.write_text("")
        cases[empty] = "the file is empty"
    huge = tmp_path / "huge.csv"
    huge.write_text("loss\n" + "1.0\n" * 100)
    cases[huge] = "huge.csv: the file is 405 bytes; logs up to 400 bytes are read"
    monkeypatch.setattr(logs, "MAX_BYTES", 400)  # a 405-byte log is "huge" here
    for path, words in cases.items():
        code, out, err = run_cli(
            [command, str(path), "--no-store"][: 2 + (command == "diagnose")], capsys
        )
        assert code == 2, (path, err)
        assert out == "" and err.count("\n") == 1 and words in err and "Traceback" not in err
