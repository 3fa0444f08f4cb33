"""The pictures: each one draws what it claims, in the regime colours, and saves as PNG and SVG."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import lrlab
from lrlab import plots
from lrlab.plots import REGIME_COLORS
from lrlab.range_test import RangeTest

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def titles(fig):
    return [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]


def assert_labelled(fig):
    assert isinstance(fig, Figure)
    assert any(t.strip() for t in titles(fig)), "no title"
    main = fig.axes[0]
    assert main.get_xlabel().strip() and main.get_ylabel().strip(), "axes not labelled"


def assert_saves(fig, tmp_path, name="fig"):
    png = plots.save(fig, tmp_path / f"{name}.png")
    svg = plots.save(fig, tmp_path / f"{name}.svg")
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert b"<svg" in svg.read_bytes()[:500]


def line_labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def texts(fig):
    out = []
    for ax in fig.axes:
        out += [t.get_text() for t in ax.texts]
    return out


def range_test_result():
    lrs = np.geomspace(1e-5, 10, 100)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(lrs) + 2) * 3)) + np.where(lrs > 1, lrs**2, 0.0)
    return RangeTest.from_curve(lrs, losses)


# Every picture, made the cheap way; each must have a title, labelled axes and save.
PICTURES = {
    "path": lambda: plots.path("parabola", lr=0.15),
    "path_2d": lambda: plots.path("himmelblau", lr=0.01, steps=30),
    "three_panels": lambda: plots.three_panels("parabola"),
    "three_panels_2d": lambda: plots.three_panels("bowl:kappa=10", steps=20),
    "cost_curves": lambda: plots.cost_curves("parabola", steps=60),
    "step_lengths": lambda: plots.step_lengths("parabola", lr=0.2),
    "small_hill": lambda: plots.small_hill(),
    "contour_paths": lambda: plots.contour_paths("bowl:kappa=10"),
    "landscape": lambda: plots.landscape(
        lrlab.sweep("parabola", lrs=lrlab.lr_grid(0.01, 2, 20), steps=50)
    ),
    "compute_price": lambda: plots.compute_price("parabola", steps=300),
    "range_test_curve": lambda: plots.range_test_curve(range_test_result()),
    "sharpness_track": lambda: plots.sharpness_track(
        lrlab.descend("bowl:kappa=10", lr=0.15, steps=20, track_sharpness=5)
    ),
    "run_figure": lambda: plots.run_figure(lrlab.descend("hill", lr=0.1, steps=30)),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_every_picture_is_labelled_and_saves(name, tmp_path):
    fig = PICTURES[name]()
    assert_labelled(fig)
    assert_saves(fig, tmp_path, name)


def test_regime_colors_one_per_regime():
    assert set(REGIME_COLORS) == set(lrlab.REGIMES)
    assert len(set(REGIME_COLORS.values())) == len(REGIME_COLORS)
    assert set(plots.REGIME_LABELS) == set(lrlab.REGIMES)


def test_public_as_lrlab_plot():
    assert lrlab.plot is plots
    assert set(plots.__all__) <= set(dir(plots))


def test_no_pyplot_state():
    # A fresh interpreter: drawing and saving every kind of figure must not start pyplot.
    code = (
        "import sys, tempfile, lrlab; from lrlab import plots\n"
        "d = tempfile.mkdtemp()\n"
        "plots.save(plots.three_panels('parabola'), d + '/a.png')\n"
        "plots.save(plots.landscape(lrlab.sweep('parabola', lrs=[0.1, 1.0, 3.0], steps=20)), d + '/b.svg')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# save


def test_save_formats_and_errors(tmp_path):
    fig = plots.path("parabola", lr=0.3, steps=5)
    assert plots.save(fig, tmp_path / "deep" / "a.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="must end in"):
        plots.save(fig, tmp_path / "a.jpg")
    with pytest.raises(TypeError, match="Figure"):
        plots.save("not a figure", tmp_path / "a.png")


def test_svg_is_reproducible(tmp_path):
    a = plots.save(plots.path("parabola", lr=0.3, steps=5), tmp_path / "a.svg").read_bytes()
    b = plots.save(plots.path("parabola", lr=0.3, steps=5), tmp_path / "b.svg").read_bytes()
    assert a == b


# ---------------------------------------------------------------------------------------------
# 1. path


def test_path_dots_follow_the_run():
    run = lrlab.descend("parabola", lr=0.3, steps=10, start=[1.5])
    fig = plots.path(run, numbered=3)
    ax = fig.axes[0]
    dots = [c for c in ax.collections if c.get_label() == "w after each step"]
    assert len(dots) == 1
    xy = dots[0].get_offsets()
    np.testing.assert_allclose(xy[:, 0], run.params[:, 0])
    np.testing.assert_allclose(xy[:, 1], run.losses, atol=1e-12)
    assert {"0", "1", "2"} <= set(texts(fig))
    assert "0.3" in ax.get_title() and "good" in ax.get_title()


def test_path_of_a_diverged_run_is_marked():
    run = lrlab.descend("parabola", lr=1.5, steps=30)
    assert run.diverged_at is not None
    fig = plots.path(run)
    assert any("off the chart" in t for t in texts(fig))
    assert "diverg" in fig.axes[0].get_title()


def test_path_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plots.path("a**2 + b**2 + c**2 + d**2 + e**2", lr=0.1)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plots.path(lrlab.descend("a**2 + b**2 + c**2 + d**2 + e**2", lr=0.1, steps=3))
    with pytest.raises(ValueError, match="keep_params"):
        plots.path(lrlab.descend("parabola", lr=0.1, steps=3, keep_params=False))
    with pytest.raises(ValueError, match="numbered"):
        plots.path("parabola", lr=0.1, numbered=-1)
    with pytest.raises(ValueError, match="lr"):
        plots.path("parabola", lr=-1.0)
    with pytest.raises(ValueError, match="run"):
        plots.path(lrlab.descend("parabola", lr=0.1, steps=3), lr=0.2)


def test_path_of_a_run_whose_objective_has_no_name():
    f = lrlab.objective("x**2 + y**2")
    run = lrlab.descend(f, lr=0.1, steps=5)
    fig = plots.path(run, f=f)
    assert len(fig.axes) == 1


# ---------------------------------------------------------------------------------------------
# 2 and 5. Panels


def test_three_panels_default_rates_and_colours():
    fig = plots.three_panels("parabola")
    assert len(fig.axes) == 3
    heads = [ax.get_title().split(":")[0] for ax in fig.axes]
    assert heads == ["too low", "just right", "too high"]
    # L = 2: the defaults are 0.1/L, 0.8/L and 2.1/L.
    for ax, lr in zip(fig.axes, (0.05, 0.4, 1.05)):
        assert f"α = {lr:.3g}" in ax.get_title()
    colours = [to_hex(ax.title.get_color()) for ax in fig.axes]
    assert colours == [REGIME_COLORS[r].lower() for r in ("too_low", "good", "diverging")]
    # Steps are drawn as arrows.
    assert all(any(a.arrow_patch is not None for a in ax.texts) for ax in fig.axes)


def test_three_panels_bad_rates():
    with pytest.raises(ValueError, match="three increasing"):
        plots.three_panels("parabola", lrs=(0.1, 0.5))
    with pytest.raises(ValueError, match="three increasing"):
        plots.three_panels("parabola", lrs=(0.5, 0.1, 1.0))
    with pytest.raises(ValueError):
        plots.three_panels("parabola", lrs=(0.1, float("nan"), 1.0))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plots.three_panels("a**2 + b**2 + c**2", lrs=(0.1, 0.5, 1.0))


def test_small_hill_names_the_minimum_each_run_reached():
    fig = plots.small_hill("hill", lrs=(0.02, 0.1))
    left, right = (ax.get_title() for ax in fig.axes)
    assert "local minimum" in left and "-2.62" in left
    assert "global minimum" in right and "-5.44" in right
    assert to_hex(fig.axes[0].title.get_color()) == REGIME_COLORS["stuck"].lower()
    assert to_hex(fig.axes[1].title.get_color()) == REGIME_COLORS["good"].lower()


# ---------------------------------------------------------------------------------------------
# 3. Cost curves


def test_cost_curves_colour_by_regime_and_mark_divergence():
    lrs = {"very high": 0.3, "high": 0.125, "good": 0.05, "low": 0.0002}
    fig = plots.cost_curves("hill", lrs, steps=200, start=[-2.0])
    ax = fig.axes[0]
    curves = [line for line in ax.get_lines() if line.get_label().startswith(tuple(lrs))]
    assert len(curves) == 4
    sw = lrlab.sweep("hill", lrs=list(lrs.values()), steps=200, start=[-2.0])
    assert [r.regime for r in sw.runs] == ["diverging", "too_high", "good", "too_low"]
    for line, run in zip(curves, sw.runs):
        assert to_hex(line.get_color()) == REGIME_COLORS[run.regime].lower()
        assert run.regime.replace("_", " ") in line.get_label()
    assert ax.get_yscale() == "log"
    assert any(t.startswith("diverged") for t in texts(fig))


def test_cost_curves_without_a_known_minimum_uses_the_cost():
    fig = plots.cost_curves("(x - 1)**2 + 3", lrs=[0.1, 0.5], steps=20)
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("cost C")
    assert ax.get_yscale() == "log"  # every cost is positive


def test_cost_curves_on_a_dataset_problem():
    fig = plots.cost_curves("diabetes-linear", lrs=[0.01, 0.1], steps=20)
    assert len([line for line in fig.axes[0].get_lines() if "α" in line.get_label()]) == 2


def test_cost_curves_default_rates_need_a_curvature():
    with pytest.raises(ValueError, match="pass lrs"):
        plots.cost_curves("-x**2")


# ---------------------------------------------------------------------------------------------
# 4. Step lengths


def test_step_lengths_are_alpha_times_the_gradient():
    run = lrlab.descend("hill", lr=0.02, steps=40, start=[-2.0])
    fig = plots.step_lengths(run)
    ax = fig.axes[0]
    grad, step = (line for line in ax.get_lines() if "|" in line.get_label())
    g, s = grad.get_ydata()[:-1], step.get_ydata()
    np.testing.assert_allclose(s / g, 0.02, rtol=1e-9)
    assert ax.get_yscale() == "log"
    assert any("α = 0.02" in t for t in texts(fig))


def test_step_lengths_of_a_diverged_run_and_a_schedule():
    run = lrlab.descend("parabola", lr=1.5, steps=30)
    fig = plots.step_lengths(run)
    assert any("diverged at step" in label for label in line_labels(fig.axes[0]))
    sched = lrlab.descend("parabola", lr=0.5, steps=30, schedule=lrlab.schedules.cosine(30))
    fig = plots.step_lengths(sched)
    assert len(fig.axes) == 2  # alpha along the run on a twin axis


# ---------------------------------------------------------------------------------------------
# 6. Contours


def test_contour_paths_one_path_per_rate_with_minima_and_start():
    fig = plots.contour_paths("himmelblau", lrs=(0.001, 0.01, 0.02), steps=40)
    ax = fig.axes[0]
    paths = [line for line in ax.get_lines() if line.get_label().startswith("α")]
    assert len(paths) == 3
    labels = line_labels(ax)
    assert "global minimum" in labels and "start" in labels
    start = next(line for line in ax.get_lines() if line.get_label() == "start")
    np.testing.assert_allclose(np.ravel(start.get_xydata()), [-4.0, 0.0])
    assert ax.collections, "no contours drawn"


def test_contour_paths_diverging_rate_is_labelled():
    fig = plots.contour_paths("bowl:kappa=10", lrs=(0.1, 0.25), steps=30)
    labels = line_labels(fig.axes[0])
    assert any("diverging" in label and "diverged at step" in label for label in labels)


def test_contour_paths_needs_two_dimensions():
    with pytest.raises(ValueError, match="2-D"):
        plots.contour_paths("parabola", lrs=[0.1])


# ---------------------------------------------------------------------------------------------
# 7. Landscape


def test_landscape_colours_points_by_regime_and_marks_one_and_two_over_l():
    sw = lrlab.sweep("hill", lrs=lrlab.lr_grid(1e-4, 0.3, 40), steps=200)
    fig = plots.landscape(sw)
    ax = fig.axes[0]
    regimes = [r.regime for r in sw.runs]
    finite = [r for r in sw.runs if np.isfinite(r.final_loss)]
    by_label = {c.get_label(): c for c in ax.collections}
    for regime in {r.regime for r in finite}:
        pts = by_label[plots.REGIME_LABELS[regime]]
        assert {to_hex(c) for c in pts.get_facecolors()} == {REGIME_COLORS[regime].lower()}
        xs = sorted(pts.get_offsets()[:, 0])
        np.testing.assert_allclose(xs, sorted(r.lr for r in finite if r.regime == regime))
    assert {"stuck", "good", "diverging"} <= set(regimes)
    L = lrlab.objective("hill").sharpness_at_minimum
    marks = {
        line.get_label()[:3]: line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith(("1/L", "2/L"))
    }
    assert marks == pytest.approx({"1/L": 1 / L, "2/L": 2 / L})
    assert any(label.startswith(f"best α = {sw.best_lr:.3g}") for label in line_labels(ax))


def test_landscape_sharpness_argument_and_diverged_band():
    sw = lrlab.sweep("x**2", lrs=lrlab.lr_grid(0.01, 3.0, 15), steps=40)
    fig = plots.landscape(sw)  # an expression: no known sharpness, so no marks
    assert not [lb for lb in line_labels(fig.axes[0]) if lb.startswith(("1/L", "2/L"))]
    fig = plots.landscape(sw, sharpness=2.0)
    ax = fig.axes[0]
    xs = sorted(
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith(("1/L", "2/L"))
    )
    assert xs == pytest.approx([0.5, 1.0])
    diverged = [r for r in sw.runs if not np.isfinite(r.final_loss)]
    assert diverged
    band = [c for c in ax.collections if c.get_label() == "diverging"]
    assert len(band) == 1 and len(band[0].get_offsets()) == len(diverged)


def test_landscape_bad_input():
    with pytest.raises(TypeError, match="Sweep"):
        plots.landscape([1, 2, 3])
    sw = lrlab.sweep("parabola", lrs=[0.1, 0.5], steps=5)
    with pytest.raises(ValueError, match="sharpness"):
        plots.landscape(sw, sharpness=-1.0)


# ---------------------------------------------------------------------------------------------
# 8. Compute price


def test_compute_price_is_cheapest_at_one_over_l():
    fig = plots.compute_price("parabola", steps=400)
    ax = fig.axes[0]
    fastest = [lb for lb in line_labels(ax) if lb.startswith("fastest")]
    assert fastest == ["fastest: α = 0.5, 1 iteration"]
    marks = [line.get_xdata()[0] for line in ax.get_lines() if line.get_label().startswith("2/L")]
    assert marks == [pytest.approx(1.0)]
    # Low rates that never make it and high rates that diverge sit in the top band.
    band = 400 * 3.0
    top = [c for c in ax.collections if np.allclose(c.get_offsets()[:, 1], band)]
    assert {c.get_label() for c in top} >= {"diverging"}
    assert any(np.all(c.get_offsets()[:, 0] < 0.01) for c in top)


def test_compute_price_counts_match_a_closed_form():
    # On L/2 x^2 from x0 the gap after n steps is (1 - lr L)^(2n) of the start.
    lrs = [0.05, 0.2]
    fig = plots.compute_price("parabola", tol=1e-6, lrs=lrs, steps=500)
    pts = np.vstack([c.get_offsets() for c in fig.axes[0].collections])
    for lr in lrs:
        n = int(np.ceil(np.log(1e-6) / (2 * np.log(abs(1 - 2 * lr)))))
        assert [y for x, y in pts if x == pytest.approx(lr)] == [n]


def test_iterations_to():
    run = lrlab.descend("parabola", lr=0.25, steps=10)
    assert plots.iterations_to(run, run.losses[0]) == 0
    assert plots.iterations_to(run, 1e-3) == 5
    assert plots.iterations_to(run, -1.0) is None


def test_compute_price_bad_input():
    with pytest.raises(ValueError, match="tol"):
        plots.compute_price("parabola", tol=0.0, steps=10)
    with pytest.raises(ValueError, match="steps"):
        plots.compute_price("parabola", steps=0)


# ---------------------------------------------------------------------------------------------
# 9 and 10. Range test and sharpness


def test_range_test_curve_marks_suggestions_and_recommended():
    rt = range_test_result()
    fig = plots.range_test_curve(rt)
    labels = line_labels(fig.axes[0])
    for name, lr in rt.suggestions.items():
        if lr is not None:
            assert f"{name}: {lr:.3g}" in labels
    assert any(lb.startswith(f"recommended ({rt.method})") for lb in labels)
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(TypeError, match="RangeTest"):
        plots.range_test_curve({"lrs": [1, 2]})


def test_sharpness_track_draws_two_over_alpha():
    run = lrlab.descend("bowl:kappa=10", lr=0.15, steps=20, track_sharpness=5)
    fig = plots.sharpness_track(run)
    ax = fig.axes[0]
    edge = next(line for line in ax.get_lines() if line.get_label().startswith("2/α"))
    assert edge.get_ydata()[0] == pytest.approx(2 / 0.15)
    track = next(line for line in ax.get_lines() if line.get_label().startswith("sharpness"))
    np.testing.assert_allclose(track.get_ydata(), 10.0, rtol=1e-6)  # a quadratic: constant
    with pytest.raises(ValueError, match="track_sharpness"):
        plots.sharpness_track(lrlab.descend("parabola", lr=0.1, steps=5))
    with pytest.raises(TypeError, match="Run"):
        plots.sharpness_track("parabola")


def test_run_figure_for_a_model_draws_step_lengths():
    run = lrlab.descend("diabetes-linear", lr=0.1, steps=10)
    fig = plots.run_figure(run)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith("Steps shrink")
