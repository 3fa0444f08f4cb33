"""Reading loss curves from real CSV, JSON-lines and TensorBoard logs written to temp dirs."""

from __future__ import annotations

import json
import math
import sys

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
    with pytest.raises(ValueError, match="no scalar tags"):
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
    with pytest.raises(ValueError, match="big.csv: the file is .* MB; logs up to"):
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
