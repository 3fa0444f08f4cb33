"""Reading loss curves from real CSV, JSON-lines and TensorBoard logs written to temp dirs."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from lrlab import logs
from lrlab.logs import LossLog, read_log
from lrlab.regimes import diagnose


def write(path, text):
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ CSV


def test_csv_with_extra_columns_picks_loss_and_steps(tmp_path):
    p = write(
        tmp_path / "log.csv",
        "step,lr,loss,acc\n0,0.1,2.3,0.1\n10,0.1,1.7,0.4\n20,0.1,1.2,0.6\n30,0.1,0.9,0.7\n",
    )
    log = read_log(p)
    assert isinstance(log, LossLog)
    assert log.column == "loss" and log.source == "log.csv"
    assert log.values.dtype == np.float64
    assert log.values.tolist() == [2.3, 1.7, 1.2, 0.9]
    assert log.steps.tolist() == [0, 10, 20, 30]
    assert set(log.available) == {"step", "lr", "acc"}
    assert read_log(str(p), column="acc").values.tolist() == [0.1, 0.4, 0.6, 0.7]


@pytest.mark.parametrize(
    ("header", "want"),
    [
        ("epoch,val_loss,train_loss", "train_loss"),
        ("iteration,training_loss,val_loss", "training_loss"),
        ("step,Loss/val,Loss/train", "Loss/train"),
        ("step,val_loss,test_loss", "val_loss"),
        ("step,eval_loss,my_loss", "my_loss"),
        ("global_step,LOSS,train_loss", "LOSS"),
        ("step,objective", "objective"),
    ],
)
def test_csv_loss_like_column_rules(tmp_path, header, want):
    cols = header.split(",")
    rows = [
        ",".join(str(i * 10 if j == 0 else 1.0 / (i + j)) for j in range(len(cols)))
        for i in range(5)
    ]
    p = write(tmp_path / "a.csv", header + "\n" + "\n".join(rows) + "\n")
    assert read_log(p).column == want


def test_csv_empty_cells_nan_and_inf(tmp_path):
    p = write(
        tmp_path / "run.csv", "step,loss,val_loss\n1,1.0,\n2,,0.9\n3,nan,\n4,inf,0.5\n5,0.5,\n\n"
    )
    log = read_log(p)
    assert log.steps.tolist() == [1, 3, 4, 5]  # the row without a loss is skipped
    assert log.values[0] == 1.0 and math.isnan(log.values[1]) and math.isinf(log.values[2])
    assert diagnose(log.values).regime == "diverging"  # non-finite values are evidence


def test_csv_without_a_step_column_counts_from_zero(tmp_path):
    log = read_log(write(tmp_path / "x.csv", "loss\n3\n2\n1\n"))
    assert log.steps.tolist() == [0, 1, 2] and log.available == ()


def test_headerless_list_of_numbers(tmp_path):
    log = read_log(write(tmp_path / "losses.txt", "3.0\n2.0\n1.5\n1.25\n"))
    assert log.column == "loss" and log.values.tolist() == [3.0, 2.0, 1.5, 1.25]


@pytest.mark.parametrize(("name", "sep"), [("a.tsv", "\t"), ("b.csv", ";"), ("c.txt", "\t")])
def test_other_delimiters(tmp_path, name, sep):
    text = (
        sep.join(["step", "loss"])
        + "\n"
        + "\n".join(f"{i}{sep}{1 / (i + 1)}" for i in range(6))
        + "\n"
    )
    log = read_log(write(tmp_path / name, text))
    assert log.column == "loss" and len(log.values) == 6


def test_missing_column_names_the_columns(tmp_path):
    p = write(tmp_path / "log.csv", "step,loss,acc\n0,1,0.1\n1,0.5,0.2\n")
    with pytest.raises(ValueError) as err:
        read_log(p, column="los")
    msg = str(err.value)
    assert msg.startswith("log.csv: column 'los' not found")
    assert "columns: step, loss, acc" in msg and "did you mean 'loss'" in msg


def test_ambiguous_columns_ask_for_one(tmp_path):
    p = write(tmp_path / "log.csv", "step,a,b\n0,1,2\n1,0.5,1\n")
    with pytest.raises(ValueError, match="log.csv: cannot tell which column.*a, b.*column="):
        read_log(p)
    assert read_log(p, column="b").values.tolist() == [2.0, 1.0]


# ---------------------------------------------------------------------------------- JSON lines


def test_jsonl_nested_keys_are_flattened(tmp_path):
    rows = [
        {
            "global_step": 10 * i,
            "train": {"loss": 1.0 / (i + 1), "acc": 0.1 * i},
            "val": {"loss": 1.2 / (i + 1)},
        }
        for i in range(5)
    ]
    p = write(tmp_path / "metrics.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    log = read_log(p)
    assert log.column == "train/loss"
    assert log.steps.tolist() == [0, 10, 20, 30, 40]
    assert set(log.available) == {"global_step", "train/acc", "val/loss"}
    assert read_log(p, column="val/loss").values[0] == 1.2


def test_jsonl_nan_strings_nulls_and_missing_keys(tmp_path):
    lines = [
        '{"step": 1, "loss": 1.0}',
        '{"step": 2, "loss": "nan"}',
        '{"step": 3}',
        '{"step": 4, "loss": null}',
        '{"step": 5, "loss": NaN}',
        '{"step": 6, "loss": 0.1}',
    ]
    log = read_log(write(tmp_path / "m.jsonl", "\n".join(lines)))
    assert log.steps.tolist() == [1, 2, 5, 6]
    assert np.isnan(log.values[1]) and np.isnan(log.values[2])


def test_json_document_forms(tmp_path):
    arr = write(tmp_path / "a.json", json.dumps([{"loss": 2.0}, {"loss": 1.0}], indent=2))
    assert read_log(arr).values.tolist() == [2.0, 1.0]
    cols = write(tmp_path / "b.json", json.dumps({"step": [0, 5], "loss": [2.0, 1.0]}, indent=1))
    log = read_log(cols)
    assert log.values.tolist() == [2.0, 1.0] and log.steps.tolist() == [0, 5]
    # The same on one line, as json.dump writes Keras's history.history, and a bare list of
    # costs (null: a value that was not finite, as lrlab's own JSON writes it).
    keras = write(tmp_path / "h.json", json.dumps({"loss": [2.0, 1.0], "val_loss": [3.0, 2.5]}))
    assert read_log(keras).values.tolist() == [2.0, 1.0]
    assert read_log(keras, column="val_loss").values.tolist() == [3.0, 2.5]
    costs = read_log(write(tmp_path / "c.json", "[3.0, 2.0, null, 1.0]"))
    assert costs.column == "loss" and np.isnan(costs.values[2])
    assert costs.values[[0, 1, 3]].tolist() == [3.0, 2.0, 1.0]


def test_jsonl_errors_name_the_line(tmp_path):
    bad = write(tmp_path / "bad.jsonl", '{"loss": 1}\n{"loss": 2}\n{"loss": 3,\n')
    with pytest.raises(ValueError, match="bad.jsonl: line 3 is not valid JSON"):
        read_log(bad)
    arr = write(tmp_path / "arr.jsonl", '{"loss": 1}\n[1, 2]\n')
    with pytest.raises(ValueError, match="arr.jsonl: line 2 is not a JSON object"):
        read_log(arr)
    text = write(tmp_path / "t.jsonl", '{"loss": 1}\n{"loss": "high"}\n')
    with pytest.raises(ValueError, match="t.jsonl: key 'loss' holds a non-numeric value 'high'"):
        read_log(text)


# ---------------------------------------------------------------------------------- TensorBoard


def _tb_log(logdir, steps=20):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(logdir))
    for i in range(steps):
        w.add_scalar("train/loss", 2.0 * 0.9**i, i * 5)
        w.add_scalar("val/loss", 2.2 * 0.9**i, i * 5)
        w.add_scalar("lr", 0.1, i * 5)
    w.close()
    return logdir


def test_tensorboard_directory_and_file(tmp_path):
    d = _tb_log(tmp_path / "run")
    log = read_log(d)
    assert log.column == "train/loss" and log.source == "run"
    assert log.steps.tolist() == [5.0 * i for i in range(20)]
    assert log.values == pytest.approx([2.0 * 0.9**i for i in range(20)], rel=1e-6)
    assert set(log.available) == {"val/loss", "lr"}
    (event_file,) = d.glob("events.out.tfevents.*")
    assert read_log(event_file, column="val/loss").values[0] == pytest.approx(2.2)
    with pytest.raises(ValueError, match="tag 'train/los' not found.*did you mean"):
        read_log(d, column="train/los")


def test_tensorboard_file_with_another_name_is_sniffed(tmp_path):
    d = _tb_log(tmp_path / "run")
    (event_file,) = d.glob("events.out.tfevents.*")
    other = tmp_path / "renamed.bin"
    other.write_bytes(event_file.read_bytes())
    assert read_log(other).column == "train/loss"


def test_tensorboard_runs_in_subdirectories(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(tmp_path / "exp"))
    for i in range(6):
        w.add_scalars("loss", {"train": 1.0 / (i + 1), "val": 1.5 / (i + 1)}, i)
    w.close()
    log = read_log(tmp_path / "exp")
    assert "train" in log.column and "loss" in log.column
    assert log.values.tolist() == pytest.approx([1.0 / (i + 1) for i in range(6)])


def test_tensorboard_missing_package_says_how_to_install(tmp_path, monkeypatch):
    d = _tb_log(tmp_path / "run")
    monkeypatch.setitem(sys.modules, "tensorboard.backend.event_processing", None)
    with pytest.raises(ImportError, match=r"pip install 'lrlab\[tensorboard\]'"):
        read_log(d)


def test_tensorboard_errors(tmp_path):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(ValueError, match="empty_dir: no TensorBoard event files"):
        read_log(empty)
    junk = tmp_path / "events.out.tfevents.1.host"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="record at byte 0 claims .* bytes: the file is corrupt"):
        read_log(junk)


# ---------------------------------------------------------------------------------- errors


def test_error_cases(tmp_path):
    cases = {
        "missing.csv": (None, "missing.csv: no such file"),
        "empty.csv": ("", "empty.csv: the file is empty"),
        "blank.csv": ("\n\n  \n", "blank.csv: the file is empty"),
        "header.csv": ("step,loss\n", r"header.csv: a header \(step, loss\) but no data rows"),
        "words.csv": (
            "step,loss\n0,1.0\n1,high\n2,0.5\n",
            "words.csv: column 'loss' holds a non-numeric value 'high' at line 3",
        ),
        "allnan.csv": ("loss\nnan\nnan\nnan\n", "allnan.csv: column 'loss' has no finite value"),
        "one.csv": ("step,loss\n0,1.0\n", "one.csv: column 'loss' has only one value"),
        "noloss.csv": ("step,name\n0,a\n1,b\n", "noloss.csv: no numeric column holds a loss"),
    }
    for name, (text, words) in cases.items():
        if text is not None:
            write(tmp_path / name, text)
        with pytest.raises(ValueError, match=words):
            read_log(tmp_path / name)


def test_binary_garbage_is_refused(tmp_path):
    p = tmp_path / "model.pt"
    p.write_bytes(b"\x80\x02PK\x00\x00garbage" + bytes(range(256)))
    with pytest.raises(ValueError, match="model.pt: binary content"):
        read_log(p)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(b"loss\n1.0\n\xe9\xff\xfe\n")
    with pytest.raises(ValueError, match="latin.csv: not UTF-8"):
        read_log(latin)


def test_size_and_row_limits(tmp_path, monkeypatch):
    p = write(tmp_path / "big.csv", "loss\n" + "1.0\n" * 50)
    monkeypatch.setattr(logs, "MAX_BYTES", 100)
    with pytest.raises(
        ValueError, match="big.csv: the file is 205 bytes; logs up to 100 bytes are read"
    ):
        read_log(p)
    monkeypatch.setattr(logs, "MAX_BYTES", 10**9)
    monkeypatch.setattr(logs, "MAX_ROWS", 20)
    with pytest.raises(ValueError, match="big.csv: more than 20 rows"):
        read_log(p)
    jl = write(tmp_path / "big.jsonl", '{"loss": 1}\n' * 30)
    with pytest.raises(ValueError, match="big.jsonl: more than 20 rows"):
        read_log(jl)


def test_wrong_argument_types(tmp_path):
    with pytest.raises(TypeError):
        read_log(123)
    p = write(tmp_path / "a.csv", "loss\n1\n0.5\n")
    with pytest.raises(TypeError):
        read_log(p, column=1)


def test_a_log_diagnoses_end_to_end(tmp_path):
    steps = np.arange(0, 2000, 10)
    loss = 0.3 + 2.0 * np.exp(-steps / 150.0)
    text = "step,loss\n" + "\n".join(f"{s},{v:.6f}" for s, v in zip(steps, loss)) + "\n"
    log = read_log(write(tmp_path / "train.csv", text))
    assert diagnose(log.values, 0.3).regime == "good"
    assert diagnose(log.values[:30], 0.3).regime == "too_low"


# ------------------------------------------------------------------- Lightning's CSVLogger


def _lightning_csv(tmp_path, epochs=3, per_epoch=4):
    """metrics.csv written by Lightning's own CSVLogger, rows as a Trainer logs them: per-step
    training rows, then a validation row and an epoch-mean row at each epoch's end."""
    from pytorch_lightning.loggers import CSVLogger

    logger = CSVLogger(str(tmp_path), name="lightning_logs")
    train, val = [], []
    step = 0
    for epoch in range(epochs):
        losses = []
        for _ in range(per_epoch):
            loss = 2.0 * 0.8**step
            logger.log_metrics({"train_loss_step": loss, "epoch": epoch}, step=step)
            train.append((step, loss))
            losses.append(loss)
            step += 1
        logger.log_metrics({"val_loss": 3.0 * 0.8**step, "epoch": epoch}, step=step - 1)
        val.append((step - 1, 3.0 * 0.8**step))
        logger.log_metrics({"train_loss_epoch": sum(losses) / per_epoch, "epoch": epoch}, step - 1)
    logger.save()
    return Path(logger.log_dir), train, val


def test_lightning_csvlogger_file_and_version_directory(tmp_path):
    version_dir, train, val = _lightning_csv(tmp_path)
    csv_file = version_dir / "metrics.csv"
    header = csv_file.read_text().splitlines()[0].split(",")
    assert {"epoch", "step", "train_loss_step", "train_loss_epoch", "val_loss"} == set(header)
    for target in (csv_file, version_dir):
        log = read_log(target)
        # the per-step training curve, not the three epoch means
        assert log.column == "train_loss_step"
        assert log.steps.tolist() == [s for s, _ in train]
        assert log.values.tolist() == pytest.approx([v for _, v in train])
    with pytest.raises(ValueError, match="Lightning logs with 1 run.*lightning_logs/version_0"):
        read_log(version_dir.parent)
    val_log = read_log(version_dir, column="val_loss")
    assert val_log.steps.tolist() == [s for s, _ in val]
    assert val_log.values.tolist() == pytest.approx([v for _, v in val])
    assert read_log(version_dir).source == "version_0/metrics.csv"


# ------------------------------------------------------------------------- MLflow file store


def _mlflow_run(root, metrics, run="0a1b2c"):
    """An MLflow FileStore run written by hand in its documented layout (mlflow is not
    installed here): mlruns/<experiment>/<run>/meta.yaml and metrics/<key> files of
    'timestamp value step' lines, keys with '/' as subdirectories."""
    run_dir = root / "mlruns" / "0" / run
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "meta.yaml").write_text(f"run_id: {run}\nexperiment_id: '0'\nstatus: 1\n")
    (root / "mlruns" / "0" / "meta.yaml").write_text("experiment_id: '0'\nname: Default\n")
    for key, points in metrics.items():
        f = run_dir / "metrics" / key
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f"{1700000000000 + 10 * s} {v} {s}\n" for s, v in points))
    return run_dir


def test_mlflow_metric_file_run_directory_and_experiment(tmp_path):
    train = [(s, 1.0 / (s + 1)) for s in range(0, 50, 5)]
    val = [(s, 1.5 / (s + 1)) for s in range(0, 50, 10)]
    run_dir = _mlflow_run(tmp_path, {"train_loss": train, "val/loss": val, "lr": [(0, 0.1)] * 2})
    log = read_log(run_dir)
    assert log.column == "train_loss" and log.source == "0a1b2c"
    assert log.steps.tolist() == [s for s, _ in train]
    assert log.values.tolist() == [v for _, v in train]
    assert set(log.available) == {"val/loss", "lr"}
    one = read_log(run_dir / "metrics" / "val" / "loss")  # the metric file itself
    assert one.column == "val/loss" and one.values.tolist() == [v for _, v in val]
    assert read_log(run_dir, column="val/loss").steps.tolist() == [s for s, _ in val]
    with pytest.raises(ValueError, match="an MLflow experiment with 1 run.*point at one run"):
        read_log(tmp_path / "mlruns" / "0")


def test_mlflow_nan_and_bad_lines(tmp_path):
    run_dir = _mlflow_run(tmp_path, {"loss": [(0, 2.0), (1, 1.0), (2, float("nan"))]})
    assert np.isnan(read_log(run_dir).values[2])
    (run_dir / "metrics" / "loss").write_text("1700000000000 2.0 0\n1700000000010 oops 1\n")
    with pytest.raises(ValueError, match="line 2 of metric 'loss'.*timestamp value step"):
        read_log(run_dir)


# ---------------------------------------------------------------------- truncated event files


def test_a_truncated_tensorboard_file_is_refused_but_read_live(tmp_path):
    d = _tb_log(tmp_path / "run")
    (event_file,) = d.glob("events.out.tfevents.*")
    raw = event_file.read_bytes()
    cut = tmp_path / "cut" / event_file.name
    cut.parent.mkdir()
    cut.write_bytes(raw[:-7])
    with pytest.raises(ValueError, match="truncated \\(its last record, at byte"):
        read_log(cut)
    with pytest.raises(ValueError, match="truncated"):
        read_log(cut.parent)
    live = logs.LogFollower(cut).poll()  # a writer may be in the middle of a record
    # the cut record was the last "lr" point: every loss is complete
    assert live.values.tolist() == pytest.approx([2.0 * 0.9**i for i in range(20)], rel=1e-6)


# --------------------------------------------------------------------------------- live logs


def test_follower_reads_complete_lines_only_and_waits_with_a_reason(tmp_path):
    p = tmp_path / "train.jsonl"
    f = logs.LogFollower(p)
    assert f.poll() is None and f.waiting == "train.jsonl does not exist yet"
    p.write_text('{"step": 0, "loss": 2.0}\n{"step": 1, "lo')
    assert f.poll() is None and "only one value" in f.waiting
    with p.open("a") as fh:
        fh.write('ss": 1.0}\n')
    assert f.poll().values.tolist() == [2.0, 1.0] and f.waiting is None
    assert f.poll() is None
    with p.open("a") as fh:
        fh.write('{"step": 2, "loss": 0.5}\n{"step": 3, "loss": 0.2')
    log = f.poll()
    assert log.values.tolist() == [2.0, 1.0, 0.5] and log.steps.tolist() == [0, 1, 2]


def test_follower_starts_over_after_truncation_and_rotation(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("loss\n3\n2\n1\n")
    f = logs.LogFollower(p)
    assert f.poll().values.tolist() == [3, 2, 1]
    p.write_text("loss\n9\n8\n")  # truncated and rewritten
    assert f.poll().values.tolist() == [9, 8] and f.restarts == 1
    rotated = tmp_path / "log.csv.new"
    rotated.write_text("loss\n7\n6\n5\n4\n")
    rotated.replace(p)  # a new file under the old name
    assert f.poll().values.tolist() == [7, 6, 5, 4] and f.restarts == 2


def test_follower_waits_for_a_column_that_comes_later_and_fails_on_garbage(tmp_path):
    p = tmp_path / "metrics.csv"
    p.write_text("step,train_loss,val_loss\n0,2.0,\n1,1.5,\n")
    f = logs.LogFollower(p, column="val_loss")
    assert f.poll() is None and "val_loss" in f.waiting
    with p.open("a") as fh:
        fh.write("1,,1.7\n2,1.2,\n2,,1.4\n")
    assert f.poll().values.tolist() == [1.7, 1.4]
    p.write_bytes(b"\x00\x01binary\n" * 10)
    with pytest.raises(ValueError, match="binary content"):
        f.poll()


def test_follow_stops_after_its_timeout(tmp_path):
    p = tmp_path / "log.csv"
    p.write_text("loss\n3\n2\n")
    assert [x.values.tolist() for x in logs.follow(p, interval=0.01, timeout=0.05)] == [[3, 2]]
    with pytest.raises(ValueError, match="interval"):
        next(logs.follow(p, interval=0))
