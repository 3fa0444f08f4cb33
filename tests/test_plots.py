"""The pictures: each one draws what it claims, in the regime colours, and saves as PNG and SVG."""

import subprocess
import sys

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

import lrlab
from lrlab import plot, scenes
from lrlab.plot import REGIME_COLORS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def titles(fig):
    return [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]


def assert_labelled(fig):
    assert isinstance(fig, Figure)
    assert any(t.strip() for t in titles(fig)), "no title"
    main = fig.axes[0]
    assert main.get_xlabel().strip() and main.get_ylabel().strip(), "axes not labelled"


def assert_saves(fig, tmp_path, name="fig"):
    png = plot.save(fig, tmp_path / f"{name}.png")
    svg = plot.save(fig, tmp_path / f"{name}.svg")
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
    return lrlab.RangeTest.from_curve(lrs, losses)


# Every picture, made the cheap way; each must have a title, labelled axes and save.
PICTURES = {
    "path": lambda: plot.path("parabola", lr=0.15),
    "path_2d": lambda: plot.path("himmelblau", lr=0.01, steps=30),
    "three_panels": lambda: plot.three_panels("parabola"),
    "three_panels_2d": lambda: plot.three_panels("bowl:kappa=10", steps=20),
    "cost_curves": lambda: plot.cost_curves("parabola", steps=60),
    "step_lengths": lambda: plot.step_lengths("parabola", lr=0.2),
    "small_hill": lambda: plot.small_hill(),
    "contour_paths": lambda: plot.contour_paths("bowl:kappa=10"),
    "landscape": lambda: plot.landscape(
        lrlab.sweep("parabola", lrs=lrlab.lr_grid(0.01, 2, 20), steps=50)
    ),
    "compute_price": lambda: plot.compute_price("parabola", steps=300),
    "range_test_curve": lambda: plot.range_test_curve(range_test_result()),
    "sharpness_track": lambda: plot.sharpness_track(
        lrlab.descend("bowl:kappa=10", lr=0.15, steps=20, track_sharpness=5)
    ),
    "run_figure": lambda: plot.run_figure(lrlab.descend("hill", lr=0.1, steps=30)),
}


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_every_picture_is_labelled_and_saves(name, tmp_path):
    fig = PICTURES[name]()
    assert_labelled(fig)
    assert_saves(fig, tmp_path, name)


def test_regime_colors_one_per_regime():
    assert set(REGIME_COLORS) == set(lrlab.REGIMES)
    assert len(set(REGIME_COLORS.values())) == len(REGIME_COLORS)
    assert set(plot.REGIME_LABELS) == set(lrlab.REGIMES)


# Every public name of the pictures before they were split into scenes and drawing.
PUBLIC = {
    "REGIME_COLORS", "REGIME_LABELS", "compute_price", "contour_paths", "cost_curves",
    "iterations_to", "landscape", "path", "range_test_curve", "run_figure", "save",
    "sharpness_track", "small_hill", "step_lengths", "three_panels",
}  # fmt: skip


def test_public_as_lrlab_plot():
    assert lrlab.plot is plot
    assert PUBLIC | {"heatmap"} == set(plot.__all__)
    assert all(
        callable(getattr(plot, name)) for name in PUBLIC - {"REGIME_COLORS", "REGIME_LABELS"}
    )


def test_no_pyplot_state():
    # A fresh interpreter: drawing and saving every kind of figure must not start pyplot.
    code = (
        "import sys, tempfile, lrlab; from lrlab import plot\n"
        "d = tempfile.mkdtemp()\n"
        "plot.save(plot.three_panels('parabola'), d + '/a.png')\n"
        "plot.save(plot.landscape(lrlab.sweep('parabola', lrs=[0.1, 1.0, 3.0], steps=20)), d + '/b.svg')\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ---------------------------------------------------------------------------------------------
# save


def test_save_formats_and_errors(tmp_path):
    fig = plot.path("parabola", lr=0.3, steps=5)
    assert plot.save(fig, tmp_path / "deep" / "a.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match="must end in"):
        plot.save(fig, tmp_path / "a.jpg")
    with pytest.raises(TypeError, match="Figure"):
        plot.save("not a figure", tmp_path / "a.png")


def test_svg_is_reproducible(tmp_path):
    a = plot.save(plot.path("parabola", lr=0.3, steps=5), tmp_path / "a.svg").read_bytes()
    b = plot.save(plot.path("parabola", lr=0.3, steps=5), tmp_path / "b.svg").read_bytes()
    assert a == b


# ---------------------------------------------------------------------------------------------
# 1. path


def test_path_dots_follow_the_run():
    run = lrlab.descend("parabola", lr=0.3, steps=10, start=[1.5])
    fig = plot.path(run, numbered=3)
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
    fig = plot.path(run)
    assert any("off the chart" in t for t in texts(fig))
    assert "diverg" in fig.axes[0].get_title()


def test_path_rejects_what_it_cannot_draw():
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plot.path("a**2 + b**2 + c**2 + d**2 + e**2", lr=0.1)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plot.path(lrlab.descend("a**2 + b**2 + c**2 + d**2 + e**2", lr=0.1, steps=3))
    with pytest.raises(ValueError, match="keep_params"):
        plot.path(lrlab.descend("parabola", lr=0.1, steps=3, keep_params=False))
    with pytest.raises(ValueError, match="numbered"):
        plot.path("parabola", lr=0.1, numbered=-1)
    with pytest.raises(ValueError, match="lr"):
        plot.path("parabola", lr=-1.0)
    with pytest.raises(ValueError, match="run"):
        plot.path(lrlab.descend("parabola", lr=0.1, steps=3), lr=0.2)


def test_path_of_a_run_whose_objective_has_no_name():
    f = lrlab.objective("x**2 + y**2")
    run = lrlab.descend(f, lr=0.1, steps=5)
    fig = plot.path(run, f=f)
    assert len(fig.axes) == 1


# ---------------------------------------------------------------------------------------------
# 2 and 5. Panels


def test_three_panels_default_rates_and_colours():
    fig = plot.three_panels("parabola")
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
        plot.three_panels("parabola", lrs=(0.1, 0.5))
    with pytest.raises(ValueError, match="three increasing"):
        plot.three_panels("parabola", lrs=(0.5, 0.1, 1.0))
    with pytest.raises(ValueError):
        plot.three_panels("parabola", lrs=(0.1, float("nan"), 1.0))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        plot.three_panels("a**2 + b**2 + c**2", lrs=(0.1, 0.5, 1.0))


def test_small_hill_names_the_minimum_each_run_reached():
    fig = plot.small_hill("hill", lrs=(0.02, 0.1))
    left, right = (ax.get_title() for ax in fig.axes)
    assert "local minimum" in left and "-2.62" in left
    assert "global minimum" in right and "-5.44" in right
    assert to_hex(fig.axes[0].title.get_color()) == REGIME_COLORS["stuck"].lower()
    assert to_hex(fig.axes[1].title.get_color()) == REGIME_COLORS["good"].lower()


# ---------------------------------------------------------------------------------------------
# 3. Cost curves


def test_cost_curves_colour_by_regime_and_mark_divergence():
    lrs = {"very high": 0.3, "high": 0.125, "good": 0.05, "low": 0.0002}
    fig = plot.cost_curves("hill", lrs, steps=200, start=[-2.0])
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
    # Three variables: no global search for the floor, so no known minimum.
    fig = plot.cost_curves("(x - 1)**2 + y**2 + z**2 + 3", lrs=[0.1, 0.5], steps=20)
    ax = fig.axes[0]
    assert ax.get_ylabel().startswith("cost C")
    assert ax.get_yscale() == "log"  # every cost is positive


def test_cost_curves_on_a_dataset_problem():
    fig = plot.cost_curves("diabetes-linear", lrs=[0.01, 0.1], steps=20)
    assert len([line for line in fig.axes[0].get_lines() if "α" in line.get_label()]) == 2


def test_cost_curves_default_rates_need_a_curvature():
    with pytest.raises(ValueError, match="pass lrs"):
        plot.cost_curves("-x**2")


# ---------------------------------------------------------------------------------------------
# 4. Step lengths


def test_step_lengths_are_alpha_times_the_gradient():
    run = lrlab.descend("hill", lr=0.02, steps=40, start=[-2.0])
    fig = plot.step_lengths(run)
    ax = fig.axes[0]
    grad, step = (line for line in ax.get_lines() if "|" in line.get_label())
    g, s = grad.get_ydata()[:-1], step.get_ydata()
    np.testing.assert_allclose(s / g, 0.02, rtol=1e-9)
    assert ax.get_yscale() == "log"
    assert any("α = 0.02" in t for t in texts(fig))


def test_step_lengths_of_a_diverged_run_and_a_schedule():
    run = lrlab.descend("parabola", lr=1.5, steps=30)
    fig = plot.step_lengths(run)
    assert any("diverged at step" in label for label in line_labels(fig.axes[0]))
    sched = lrlab.descend("parabola", lr=0.5, steps=30, schedule=lrlab.schedules.cosine(30))
    fig = plot.step_lengths(sched)
    assert len(fig.axes) == 2  # alpha along the run on a twin axis


# ---------------------------------------------------------------------------------------------
# 6. Contours


def test_contour_paths_one_path_per_rate_with_minima_and_start():
    fig = plot.contour_paths("himmelblau", lrs=(0.001, 0.01, 0.02), steps=40)
    ax = fig.axes[0]
    paths = [line for line in ax.get_lines() if line.get_label().startswith("α")]
    assert len(paths) == 3
    labels = line_labels(ax)
    assert "global minimum" in labels and "start" in labels
    start = next(line for line in ax.get_lines() if line.get_label() == "start")
    np.testing.assert_allclose(np.ravel(start.get_xydata()), [-4.0, 0.0])
    assert ax.collections, "no contours drawn"


def test_contour_paths_diverging_rate_is_labelled():
    fig = plot.contour_paths("bowl:kappa=10", lrs=(0.1, 0.25), steps=30)
    labels = line_labels(fig.axes[0])
    assert any("diverging" in label and "diverged at step" in label for label in labels)


def test_contour_paths_needs_two_dimensions():
    with pytest.raises(ValueError, match="2-D"):
        plot.contour_paths("parabola", lrs=[0.1])


# ---------------------------------------------------------------------------------------------
# 7. Landscape


def test_landscape_colours_points_by_regime_and_marks_one_and_two_over_l():
    sw = lrlab.sweep("hill", lrs=lrlab.lr_grid(1e-4, 0.3, 40), steps=200)
    fig = plot.landscape(sw)
    ax = fig.axes[0]
    regimes = [r.regime for r in sw.runs]
    finite = [r for r in sw.runs if np.isfinite(r.final_loss)]
    by_label = {c.get_label(): c for c in ax.collections}
    for regime in {r.regime for r in finite}:
        pts = by_label[plot.REGIME_LABELS[regime]]
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
    fig = plot.landscape(sw)  # an expression: no known sharpness, so no marks
    assert not [lb for lb in line_labels(fig.axes[0]) if lb.startswith(("1/L", "2/L"))]
    fig = plot.landscape(sw, sharpness=2.0)
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
        plot.landscape([1, 2, 3])
    sw = lrlab.sweep("parabola", lrs=[0.1, 0.5], steps=5)
    with pytest.raises(ValueError, match="sharpness"):
        plot.landscape(sw, sharpness=-1.0)


# ---------------------------------------------------------------------------------------------
# 8. Compute price


def test_compute_price_is_cheapest_at_one_over_l():
    fig = plot.compute_price("parabola", steps=400)
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
    fig = plot.compute_price("parabola", tol=1e-6, lrs=lrs, steps=500)
    pts = np.vstack([c.get_offsets() for c in fig.axes[0].collections])
    for lr in lrs:
        n = int(np.ceil(np.log(1e-6) / (2 * np.log(abs(1 - 2 * lr)))))
        assert [y for x, y in pts if x == pytest.approx(lr)] == [n]


def test_iterations_to():
    run = lrlab.descend("parabola", lr=0.25, steps=10)
    assert plot.iterations_to(run, run.losses[0]) == 0
    assert plot.iterations_to(run, 1e-3) == 5
    assert plot.iterations_to(run, -1.0) is None


def test_compute_price_bad_input():
    with pytest.raises(ValueError, match="tol"):
        plot.compute_price("parabola", tol=0.0, steps=10)
    with pytest.raises(ValueError, match="steps"):
        plot.compute_price("parabola", steps=0)


# ---------------------------------------------------------------------------------------------
# 9 and 10. Range test and sharpness


def test_range_test_curve_marks_suggestions_and_recommended():
    rt = range_test_result()
    fig = plot.range_test_curve(rt)
    labels = line_labels(fig.axes[0])
    for name, lr in rt.suggestions.items():
        if lr is not None:
            assert f"{name}: {lr:.3g}" in labels
    assert any(lb.startswith(f"recommended ({rt.method})") for lb in labels)
    assert fig.axes[0].get_xscale() == "log"
    with pytest.raises(TypeError, match="RangeTest"):
        plot.range_test_curve({"lrs": [1, 2]})


def test_sharpness_track_draws_two_over_alpha():
    run = lrlab.descend("bowl:kappa=10", lr=0.15, steps=20, track_sharpness=5)
    fig = plot.sharpness_track(run)
    ax = fig.axes[0]
    edge = next(line for line in ax.get_lines() if line.get_label().startswith("2/α"))
    assert edge.get_ydata()[0] == pytest.approx(2 / 0.15)
    track = next(line for line in ax.get_lines() if line.get_label().startswith("sharpness"))
    np.testing.assert_allclose(track.get_ydata(), 10.0, rtol=1e-6)  # a quadratic: constant
    with pytest.raises(ValueError, match="track_sharpness"):
        plot.sharpness_track(lrlab.descend("parabola", lr=0.1, steps=5))
    with pytest.raises(TypeError, match="Run"):
        plot.sharpness_track("parabola")


def test_run_figure_for_a_model_draws_step_lengths():
    run = lrlab.descend("diabetes-linear", lr=0.1, steps=10)
    fig = plot.run_figure(run)
    assert len(fig.axes) == 2
    assert fig.axes[0].get_title().startswith("Steps shrink")


# ---------------------------------------------------------------------------------------------
# Drawing runs nothing: every picture from scenes made beforehand.


def test_drawing_from_scenes_runs_no_experiment(monkeypatch, tmp_path):
    made = {
        "path": scenes.path("parabola", lr=0.3, steps=8),
        "three_panels": scenes.three_panels("parabola", steps=6),
        "small_hill": scenes.small_hill("hill", steps=20),
        "contour_paths": scenes.contour_paths("bowl:kappa=10", steps=15),
        "cost_curves": scenes.cost_curves("parabola", steps=20),
        "step_lengths": scenes.step_lengths("parabola", lr=0.2, steps=10),
        "landscape": scenes.landscape("parabola", lrs=[0.1, 0.5, 1.2], steps=10),
        "compute_price": scenes.compute_price("parabola", lrs=[0.1, 0.5], steps=50),
        "sharpness_track": scenes.sharpness_track("bowl:kappa=10", lr=0.1, steps=6, every=3),
    }

    def refuse(*args, **kwargs):
        raise AssertionError("a drawing function ran an experiment")

    import lrlab.curvature
    import lrlab.descent

    for module, names in (
        (lrlab.descent, ("descend", "sweep")),
        (scenes, ("descend", "sweep", "measure_sharpness")),
        (lrlab.curvature, ("sharpness", "hessian_eigenvalues")),
    ):
        for name in names:
            monkeypatch.setattr(module, name, refuse)
    for name, scene in made.items():
        fig = getattr(plot, name)(scene)
        assert_labelled(fig)
    assert_labelled(plot.run_figure(made["path"].run))
    plot.save(plot.landscape(made["landscape"]), tmp_path / "l.png")


def test_landscape_scene_marks_one_and_two_over_l_from_the_closed_form():
    # parabola:L=4 is 2x²: 1/L = 0.25 and 2/L = 0.5, whatever the code computed.
    scene = scenes.landscape("parabola:L=4", lrs=lrlab.lr_grid(0.01, 1.0, 15), steps=30)
    ax = plot.landscape(scene).axes[0]
    marks = sorted(
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith(("1/L", "2/L"))
    )
    assert marks == pytest.approx([0.25, 0.5])
    lo, hi = ax.get_xlim()
    assert lo < 0.01 and hi > 1.0 and ax.get_xscale() == "log"
    ring = [line for line in ax.get_lines() if line.get_label().startswith("best α")]
    assert ring[0].get_xdata()[0] == pytest.approx(scene.sweep.best_lr)


def test_compute_price_scene_marks_and_points():
    scene = scenes.compute_price("parabola:L=4", lrs=[0.05, 0.1, 0.25, 0.45, 0.6], steps=300)
    ax = plot.compute_price(scene).axes[0]
    marks = sorted(
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_label().startswith(("1/L", "2/L"))
    )
    assert marks == pytest.approx([0.25, 0.5])
    points = np.vstack([c.get_offsets() for c in ax.collections])
    for lr in (0.05, 0.1, 0.45):
        q = (1 - 4 * lr) ** 2  # the cost's factor per step
        n = int(np.ceil(np.log(1e-6) / np.log(q) - 1e-9))
        assert [y for x, y in points if x == pytest.approx(lr)] == [n]
    band = [y for x, y in points if x == pytest.approx(0.6)]
    assert band == [300 * 3.0]  # diverged: in the band at the top


def test_drawing_functions_reject_what_is_not_their_data():
    with pytest.raises(TypeError, match="Scene"):
        plot.paths.three_panels("parabola")
    with pytest.raises(TypeError, match="Price"):
        plot.sweeps.compute_price(scenes.landscape("parabola", lrs=[0.1], steps=3))
    with pytest.raises(TypeError, match="Scene"):
        plot.curves.cost_curves([0.1, 0.2])


# ---------------------------------------------------------------------------------------------
# Heatmap: learning rate against momentum, on synthetic arrays.


def heatmap_data():
    L = 2.0
    lrs = np.geomspace(0.05, 3.0, 12)
    betas = np.array([0.0, 0.5, 0.9])
    limit = (2 + 2 * betas) / L  # heavy ball on a quadratic: stable below this
    stable = lrs[None, :] < limit[:, None]
    costs = np.where(stable, 1e-3 / lrs[None, :], np.inf)
    regimes = np.where(stable, np.where(lrs[None, :] < 0.2, "too_low", "good"), "diverging")
    return lrs, betas, costs, regimes, limit


def test_heatmap_cells_boundary_and_diverged_marks():
    lrs, betas, costs, regimes, limit = heatmap_data()
    fig = plot.heatmap(lrs, betas, costs, regimes, name="momentum", boundary=limit)
    left, right = fig.axes[:2]
    # Cell colours: each cell in its regime's colour, rows = momentum, columns = lr.
    mesh = left.collections[0]
    colours = mesh.cmap(mesh.norm(np.asarray(mesh.get_array()).reshape(regimes.shape)))
    for i in range(len(betas)):
        for j in range(len(lrs)):
            assert to_hex(colours[i, j]) == REGIME_COLORS[regimes[i, j]].lower()
    # The boundary (2 + 2β)/L = 1, 1.5, 1.9: one mark across each row, on both panels.
    for ax in (left, right):
        marks = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
        xs = [line.get_xdata()[0] for line in marks]
        assert xs == pytest.approx([1.0, 1.5, 1.9])
        for i, line in enumerate(marks):
            assert list(line.get_ydata()) == [i - 0.5, i + 0.5]
        assert ax.get_xscale() == "log"
        lo, hi = ax.get_xlim()
        assert lo < lrs[0] and hi > lrs[-1]
    # Crosses exactly on the diverged cells.
    crosses = np.asarray(right.collections[1].get_offsets())
    rows, cols = np.nonzero(~np.isfinite(costs))
    np.testing.assert_allclose(crosses, np.column_stack([lrs[cols], rows]))
    assert [t.get_text() for t in left.get_yticklabels()] == ["0", "0.5", "0.9"]
    assert left.get_ylabel() == "momentum"


def test_heatmap_cost_colour_scale_and_bad_input():
    lrs, betas, costs, regimes, _ = heatmap_data()
    fig = plot.heatmap(lrs, betas, costs, regimes)
    mesh = fig.axes[1].collections[0]
    finite = costs[np.isfinite(costs)]
    assert mesh.norm.vmin == pytest.approx(finite.min()) and mesh.norm.vmax == pytest.approx(
        finite.max()
    )
    with pytest.raises(ValueError, match="shape"):
        plot.heatmap(lrs, betas, costs[:, :-1], regimes)
    with pytest.raises(ValueError, match="regime"):
        plot.heatmap(lrs, betas, costs, np.full(regimes.shape, "fine"))
    with pytest.raises(ValueError, match="increasing"):
        plot.heatmap(lrs[::-1], betas, costs, regimes)
    with pytest.raises(ValueError, match="boundary"):
        plot.heatmap(lrs, betas, costs, regimes, boundary=[1.0])


# ---------------------------------------------------------------------------------------------
# The range-test picture from data alone.


def test_range_test_curve_from_data_by_keyword():
    lrs = np.geomspace(1e-4, 1, 50)
    losses = 1 / (1 + lrs * 100)
    fig = plot.range_test_curve(
        lrs=lrs, losses=losses, suggestions={"valley": 1e-2}, recommended=1e-2, method="valley"
    )
    ax = fig.axes[0]
    raw = next(line for line in ax.get_lines() if line.get_label() == "loss (raw)")
    np.testing.assert_allclose(raw.get_xdata(), lrs)
    ring = next(line for line in ax.get_lines() if line.get_label().startswith("recommended"))
    assert ring.get_xdata()[0] == 1e-2
    assert ring.get_ydata()[0] == pytest.approx(0.5, rel=0.02)  # on the curve at 1e-2
    with pytest.raises(ValueError, match="one loss per"):
        plot.range_test_curve(lrs=lrs, losses=losses[:-1])


def test_heatmap_from_a_scene_of_adam_betas():
    from lrlab import optim

    scene = scenes.heatmap(
        "parabola", [0.01, 0.1, 1.0], optim.adam(betas=[(0.9, 0.999), (0.5, 0.9)]), steps=10
    )
    fig = plot.heatmap(scene)
    left = fig.axes[0]
    assert [t.get_text() for t in left.get_yticklabels()] == ["0.9, 0.999", "0.5, 0.9"]
    assert left.get_ylabel() == "betas"
    assert not [line for line in left.get_lines() if line.get_linestyle() == "--"]  # no boundary


def test_landscape_of_a_sweep_with_momentum_points_to_the_heatmap():
    from lrlab import optim

    sw = lrlab.sweep("parabola", lrs=[0.1, 0.2], steps=5, optimizer=optim.sgd(momentum=[0.0, 0.5]))
    with pytest.raises(ValueError, match="heatmap"):
        plot.landscape(sw)
    assert plot.heatmap(scenes.heatmap_of(sw)).axes[0].get_ylabel() == "momentum"
