"""`lrlab demo`: the pictures and a self-contained report, in well under a minute."""

import re
import time

import numpy as np
import pytest

import lrlab
from lrlab import scenes
from lrlab.demo import demo

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


EXPERIMENTS: list[tuple] = []  # every descend and sweep the demo ran, by its arguments


def _recorded(fn):
    def record(f, *args, **kwargs):
        lrs = kwargs.get("lrs", kwargs.get("lr", args[0] if args else None))
        name = f if isinstance(f, str) else f.name
        key = (fn.__name__, name, tuple(np.atleast_1d(lrs).tolist()), kwargs.get("steps"))
        EXPERIMENTS.append(key + (str(kwargs.get("start")),))
        return fn(f, *args, **kwargs)

    return record


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    calls = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(scenes, "sweep", _recorded(scenes.sweep))
        mp.setattr(scenes, "descend", _recorded(scenes.descend))
        began = time.perf_counter()
        index = demo(out, progress=lambda done, total: calls.append((done, total)))
        seconds = time.perf_counter() - began
    print(f"\nlrlab demo took {seconds:.1f} s")
    return index, index.read_text(encoding="utf-8"), calls, seconds


def test_demo_writes_the_report_and_every_picture(report):
    index, html, _, _ = report
    assert index.name == "index.html" and index.is_file()
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 9
    names = {
        "path.png",
        "three_panels.png",
        "cost_curves.png",
        "step_lengths.png",
        "small_hill.png",
        "contour_paths.png",
        "landscape.png",
        "compute_price.png",
        "sharpness.png",
        "momentum.png",
    }
    assert names <= set(images)
    for name in images:
        assert "/" not in name and ":" not in name, "images are referenced relatively"
        data = (index.parent / name).read_bytes()
        assert data[:8] == PNG_MAGIC, name


def test_demo_report_is_self_contained(report):
    _, html, _, _ = report
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "external resource"
    assert "@import" not in html and "url(" not in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_demo_report_explains_every_regime_with_numbers(report):
    _, html, _, _ = report
    for regime in lrlab.REGIMES:
        assert f"<code>{regime}</code>" in html, regime
    # Numbers measured in the run, next to the theory they check.
    assert "2/L = 2" in html
    assert re.search(r"α = 1/L = 1 needs 1\b", html)
    assert re.search(r"the largest rate that did not diverge was α = 1\.\d+", html)
    # Momentum: the heavy-ball boundary (2 + 2 beta)/L on the bowl (L = 10), row by row.
    for beta, limit in ((0, "0.2"), (0.5, "0.3"), (0.9, "0.38"), (0.99, "0.398")):
        assert f"<tr><td>{beta}</td><td>{limit}</td>" in html
    # The regime table of the sweep.
    assert "<th>regime</th>" in html and "all 60 runs" in html


def test_demo_reports_progress_in_order(report):
    _, _, calls, _ = report
    assert calls and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == list(range(1, len(calls) + 1))


def test_demo_runs_each_experiment_once(report):
    # Every picture's runs come from a scene, and the text reads its numbers off the same runs.
    assert len(EXPERIMENTS) >= 10
    assert len(set(EXPERIMENTS)) == len(EXPERIMENTS), "an experiment ran twice"


def test_demo_bad_out_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        demo(blocker)
    with pytest.raises(TypeError, match="out_dir"):
        demo(3)
    with pytest.raises(TypeError, match="progress"):
        demo(tmp_path / "x", progress="yes")
