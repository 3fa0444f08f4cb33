"""``lrlab demo``: every picture of the learning rate, measured on built-in examples, in one report.

:func:`demo` runs the scenes of :mod:`lrlab.scenes` on a handful of small objectives chosen
so that each phenomenon shows clearly, draws them with :mod:`lrlab.plot`, and writes
``index.html``: each picture next to a few sentences that explain it with the numbers
measured in this very run: the numbers and the pictures come from the same runs, each
experiment run once. The report is self-contained (images referenced relatively,
inline CSS, no scripts or web fonts), so it opens offline and can be copied anywhere.

==========================  ===============================================================
picture                     example
==========================  ===============================================================
``path.png``                ``parabola:L=1`` (C = x²/2) from x = 1.8 with alpha = 0.3
``three_panels.png``        the same parabola with alpha = 0.1, 0.8 and 2.1
``cost_curves.png``         ``hill`` from x = -2: alpha = 0.3, 0.125, 0.05 and 0.0002
``step_lengths.png``        ``hill`` from x = -2 with alpha = 0.02
``small_hill.png``          ``hill`` from x = 2.2 with alpha = 0.02 and 0.1
``contour_paths.png``       ``bowl:kappa=10`` with alpha = 0.01, 0.1 and 0.19
``landscape.png``           a sweep of 60 rates on ``hill``: all five regimes
``landscape_parabola.png``  a sweep of 41 rates on the parabola: divergence above 2/L
``momentum.png``            ``bowl:kappa=10``: 40 rates × momentum 0, 0.5, 0.9, 0.99
``compute_price.png``       iterations to a 1e-6 tolerance against alpha, on the parabola
``range_test.png``          an LR range test of a 64-32-10 network on the digits
``sharpness.png``           full-batch training of that network: sharpness meets 2/alpha
==========================  ===============================================================

Example:
    >>> import tempfile
    >>> index = demo(tempfile.mkdtemp())  # doctest: +SKIP
    >>> index.name  # doctest: +SKIP
    'index.html'
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import __version__, _checks, optim, plot, scenes
from ._format import fmt
from .datasets import build
from .descent import lr_grid
from .objectives import objective
from .plot.style import REGIME_COLORS, REGIME_LABELS
from .range_test import range_test

__all__ = ["demo"]

Progress = Callable[[int, int], None]

#: The examples. Changing one changes the pictures and the numbers in the text together.
PARABOLA = "parabola:L=1"  # C = x²/2: sharpness 1, so 1/L = 1 and 2/L = 2
HILL = "hill"  # x⁴ - 4x² + x: a local minimum at 1.347, the global one at -1.473
HILL_LEFT = [-2.0]  # left of the global well: no hill in the way, so every regime but stuck
BOWL = "bowl:kappa=10"
MOMENTUM_STEPS = 200
#: The network for the range test and the edge of stability: small enough for seconds.
NET_HIDDEN, NET_SAMPLES = 32, 600


@dataclass
class _Section:
    key: str
    title: str
    image: str
    alt: str
    text: str  # HTML paragraphs
    extra: str = ""  # HTML after the picture (a table)
    wide: bool = False  # a picture of several panels: full width, text below


def _g(x: float | None) -> str:
    """A number in the report's prose: typographic minus, short exponents."""
    text = fmt(x, missing="–", nonfinite="∞")
    return text.replace("e-0", "e-").replace("e+0", "e+").replace("-", "−")


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _regime(r: str) -> str:
    """A regime name in the report: its colour chip and its name as code."""
    return f'<span class="chip" style="background:{REGIME_COLORS[r]}"></span><code>{r}</code>'


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.2g}%" if whole else "–"


def _save(fig, out: Path, name: str) -> str:
    plot.save(fig, out / name)
    return name


@contextmanager
def _one_thread():
    # The demo's problems are tiny; on a busy machine several threads spend more time
    # waiting for each other than computing (seconds instead of tenths). Restored after.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# The sections, one per picture. Each runs what it shows and reads its numbers off the runs.


def _path(out: Path) -> _Section:
    lr, steps, x0 = 0.3, 20, 1.8
    scene = scenes.path(PARABOLA, lr=lr, steps=steps, start=[x0])
    run = scene.run
    x = run.params[:, 0]
    image = _save(plot.path(scene), out, "path.png")
    factor = x[1] / x[0]
    return _Section(
        "path",
        "1. The path of gradient descent",
        image,
        "Dots on the parabola x²/2 moving from x = 1.8 to the minimum at 0.",
        f"""<p>Gradient descent moves the parameter against the slope,
        <code>w ← w − α·C′(w)</code>. On <code>C = x²/2</code> with α = {_g(lr)}, each step
        multiplies the distance to the minimum by 1 − α·L = {_g(factor)}: the dots start
        {_g(x[0])} away, are {_g(abs(x[5]))} away after 5 steps and {_g(abs(x[-1]))} after
        {steps}. The cost fell from {_g(run.losses[0])} to {_g(run.final_loss)}
        (diagnosis: {_regime(run.regime)}).</p>
        <p>The dots crowd together near the bottom: the slope vanishes there, so each step is
        shorter than the last although α never changes (picture 4).</p>""",
    )


def _three(out: Path) -> _Section:
    steps = 12
    scene = scenes.three_panels(PARABOLA, lrs=(0.1, 0.8, 2.1), steps=steps)
    image = _save(plot.three_panels(scene), out, "three_panels.png")
    low, right, high = scene.runs
    c0 = float(low.losses[0])
    x_high = high.params[:, 0]
    return _Section(
        "three",
        "2. Too low, just right, too high",
        image,
        "Three panels on the parabola: short steps that crawl, steps that arrive, steps that "
        "overshoot further and further.",
        f"""<p>The same curve, the same start, {steps} steps each. The sharpness (curvature at
        the minimum) is L = 1, so every step multiplies the distance to the minimum by
        <code>1 − α·L</code>.</p>
        <ul>
        <li><b>Too low</b>, α = {_g(low.lr)}: a factor {_g(1 - low.lr)} per step; after {steps}
        steps the cost is still {_g(low.final_loss)}, {_pct(low.final_loss, c0)} of where it
        started: {_regime(low.regime)}.</li>
        <li><b>Just right</b>, α = {_g(right.lr)}: a factor {_g(1 - right.lr)}; the cost is
        {_g(right.final_loss)} after {steps} steps: {_regime(right.regime)}. (α = 1/L = 1 would
        land on the minimum in one step.)</li>
        <li><b>Too high</b>, α = {_g(high.lr)}, above 2/L = 2: a factor {_g(1 - high.lr)}, so
        every step jumps over the minimum and lands further up the other wall:
        |x| grows from {_g(abs(x_high[0]))} to {_g(abs(x_high[-1]))} and the cost from
        {_g(high.losses[0])} to {_g(high.final_loss)}: {_regime(high.regime)}.</li>
        </ul>""",
        wide=True,
    )


def _cost_curves(out: Path) -> _Section:
    lrs = {"very high": 0.3, "high": 0.125, "good": 0.05, "low": 0.0002}
    steps = 200
    scene = scenes.cost_curves(HILL, lrs, steps=steps, start=HILL_LEFT, keep_params=True)
    image = _save(plot.cost_curves(scene), out, "cost_curves.png")
    f = scene.objective
    vh, hi, good, low = scene.runs
    m = f.minimum
    reach = scenes.iterations_to(good, m + 1e-12)
    a, b = sorted(hi.params[-2:, 0])
    return _Section(
        "cost",
        "3. Cost against iteration: very high, high, good, low",
        image,
        "Cost minus the minimum against iteration on a log scale for four learning rates.",
        f"""<p>The quartic <code>x⁴ − 4x² + x</code>, started at x = −2 in its global well
        (curvature L = {_g(f.sharpness_at_minimum)} at the bottom, so 2/L = {_g(2 / f.sharpness_at_minimum)}).
        The cost is drawn as its distance to the minimum, on a log scale.</p>
        <ul>
        <li><b>Very high</b>, α = {_g(vh.lr)}: the cost grows instead of shrinking and the run
        is stopped at step {vh.diverged_at}: {_regime(vh.regime)}.</li>
        <li><b>High</b>, α = {_g(hi.lr)}: a fast drop, then a plateau {_g(hi.final_loss - m)}
        above the minimum. The run bounces for ever between x = {_g(a)} and x = {_g(b)}, on
        either side of the bottom at {_g(f.minima[0].point[0])}: {_regime(hi.regime)}.</li>
        <li><b>Good</b>, α = {_g(good.lr)}: within 10⁻¹² of the minimum after
        {reach if reach is not None else "more than " + str(steps)} steps:
        {_regime(good.regime)}.</li>
        <li><b>Low</b>, α = {_g(low.lr)}: still falling steadily at the end of the budget,
        {_g(low.final_loss - m)} above the minimum: {_regime(low.regime)}.</li>
        </ul>""",
    )


def _step_lengths(out: Path) -> _Section:
    lr, steps = 0.02, 80
    scene = scenes.step_lengths(HILL, lr=lr, steps=steps, start=HILL_LEFT)
    run = scene.run
    image = _save(plot.step_lengths(scene), out, "step_lengths.png")
    s, g = run.step_sizes, run.grad_norms[:-1]
    ok = g > 0
    spread = float(np.max(np.abs(s[ok] / g[ok] / lr - 1)))
    return _Section(
        "steps",
        "4. The step shrinks with the gradient",
        image,
        "Step length and gradient norm against iteration, two parallel falling lines.",
        f"""<p>The learning rate stays α = {_g(lr)} for all {steps} steps, yet the first step is
        {_g(s[0])} long, step 20 is {_g(s[20])} and step 60 only {_g(s[60])}. The step is
        α times the gradient (measured here, |step| / |gradient| differs from α by at most
        {spread:.0e} relatively at any step), and the gradient vanishes at the minimum:
        gradient descent approaches the minimum ever more finely by itself.</p>""",
    )


def _small_hill(out: Path, landscape_sweep) -> _Section:
    scene = scenes.small_hill(HILL, lrs=(0.02, 0.1), steps=40)
    image = _save(plot.small_hill(scene), out, "small_hill.png")
    small, large = scene.runs
    stuck = [r.lr for r in landscape_sweep.runs if r.regime == "stuck"]
    good = [r.lr for r in landscape_sweep.runs if r.regime == "good"]
    bands = ""
    if stuck and good:
        bands = f"""<p>In the sweep of picture 7 ({len(landscape_sweep.runs)} rates,
        {landscape_sweep.steps} steps from the same start) every α from {_g(min(stuck))} to
        {_g(max(stuck))} ended {_regime("stuck")} in the local minimum, and only
        {_g(min(good))} to {_g(max(good))} reached the global one.</p>"""
    return _Section(
        "hill",
        "5. The small hill",
        image,
        "Two panels on the quartic: a small step stops in the shallow well, a larger one "
        "jumps over the hill into the deep well.",
        f"""<p>From x = {_g(small.params[0, 0])} the nearer well is the shallow one. With α =
        {_g(small.lr)} the steps are short and the run settles at x = {_g(small.params[-1, 0])},
        the local minimum, with cost {_g(small.final_loss)}: {_regime(small.regime)}. With α =
        {_g(large.lr)} the first step is {_g(abs(large.params[1, 0] - large.params[0, 0]))}
        long, clears the hill, and the run ends at x = {_g(large.params[-1, 0])} with cost
        {_g(large.final_loss)}, the global minimum: {_regime(large.regime)}. On a non-convex
        cost, too low a learning rate can cost more than time.</p>{bands}""",
        wide=True,
    )


def _contour(out: Path) -> _Section:
    steps = 50
    scene = scenes.contour_paths(BOWL, lrs=(0.01, 0.1, 0.19), steps=steps)
    image = _save(plot.contour_paths(scene), out, "contour_paths.png")
    crawl, one, zig = scene.runs
    L = scene.objective.sharpness_at_minimum
    return _Section(
        "contour",
        "6. Paths on a contour plot",
        image,
        "Three paths on the contours of an elongated bowl.",
        f"""<p>The bowl <code>(x² + 10y²)/2</code> is ten times steeper across (y) than along
        (x): sharpness L = {_g(L)}, so rates above 2/L = {_g(2 / L)} diverge, and a rate safe
        for the steep direction is small for the flat one.</p>
        <ul>
        <li>α = {_g(crawl.lr)}: after {steps} steps still at x = {_g(crawl.params[-1, 0])}:
        {_regime(crawl.regime)}.</li>
        <li>α = {_g(one.lr)} = 1/L: y is solved in one step, x shrinks by 0.9 per step to
        {_g(one.params[-1, 0])}: {_regime(one.regime)}.</li>
        <li>α = {_g(zig.lr)}, just below 2/L: every step overshoots the valley and zig-zags
        across it (y flips sign each step), while x goes fastest; cost
        {_g(zig.final_loss)}: {_regime(zig.regime)}.</li>
        </ul>""",
    )


def _regime_table(sw) -> str:
    """One row per run of consecutive learning rates that share a regime."""
    rows, start = [], 0
    runs = sw.runs
    for k in range(1, len(runs) + 1):
        if k == len(runs) or runs[k].regime != runs[start].regime:
            block = runs[start:k]
            finals = np.array([r.final_loss for r in block])
            mid = block[len(block) // 2]
            lr_text = (
                _g(block[0].lr) if len(block) == 1 else f"{_g(block[0].lr)} – {_g(block[-1].lr)}"
            )
            if np.isfinite(finals).any():
                fin = finals[np.isfinite(finals)]
                cost = (
                    _g(fin.min())
                    if fin.min() == fin.max()
                    else f"{_g(fin.min())} … {_g(fin.max())}"
                )
            else:
                cost = "diverged"
            rows.append(
                f"<tr><td>{_regime(block[0].regime)}</td><td>{lr_text}</td><td>{len(block)}</td>"
                f"<td>{cost}</td><td>{_e(mid.diagnosis.advice)}</td></tr>"
            )
            start = k
    every = "".join(
        f"<tr><td>{_g(r.lr)}</td><td>{_regime(r.regime)}</td><td>{r.diagnosis.confidence:.2f}</td>"
        f"<td>{_g(r.final_loss)}</td></tr>"
        for r in runs
    )
    return (
        "<table><thead><tr><th>regime</th><th>learning rates α</th><th>runs</th>"
        "<th>final cost</th><th>advice for the middle run</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<details><summary>all {len(runs)} runs</summary><table><thead><tr><th>α</th>"
        "<th>regime</th><th>confidence</th><th>final cost</th></tr></thead>"
        f"<tbody>{every}</tbody></table></details>"
    )


def _landscape(out: Path, scene: scenes.Landscape) -> _Section:
    sw, f = scene.sweep, scene.objective
    image = _save(plot.landscape(scene), out, "landscape.png")
    counts = {r: sum(1 for run in sw.runs if run.regime == r) for r in REGIME_COLORS}
    seen = ", ".join(f"{counts[r]} {_regime(r)}" for r in REGIME_COLORS if counts[r])
    L = f.sharpness_at_minimum
    return _Section(
        "landscape",
        "7. The sweep landscape",
        image,
        "Final cost against log learning rate, coloured by regime, with 1/L and 2/L marked.",
        f"""<p>One batched sweep: {len(sw.runs)} learning rates from {_g(sw.lrs[0])} to
        {_g(sw.lrs[-1])}, {sw.steps} steps each from x = 2.2 on the quartic, every run
        diagnosed: {seen}. Reading left to right: the smallest rates are still crawling, a long
        band settles in the local minimum behind the hill, a narrow band around
        α = {_g(sw.best_lr)} reaches the global minimum, just above it the run bounces on a
        plateau, and the largest rates diverge. The marks are 1/L = {_g(1 / L)} and
        2/L = {_g(2 / L)} for the curvature L = {_g(L)} at the global minimum. 1/L falls in
        the stuck band: the curvature at the minimum says nothing about the hill on the way
        there.</p>""",
        _regime_table(sw),
        wide=True,
    )


def _landscape_parabola(out: Path) -> _Section:
    grid = np.unique(np.concatenate([lr_grid(0.01, 4.0, 40), [1.0]]))
    scene = scenes.landscape(PARABOLA, lrs=grid, steps=100)
    sw, f = scene.sweep, scene.objective
    image = _save(plot.landscape(scene), out, "landscape_parabola.png")
    stable = [r.lr for r in sw.runs if r.regime != "diverging"]
    diverged = [r.lr for r in sw.runs if r.regime == "diverging"]
    L = f.sharpness_at_minimum
    return _Section(
        "rule",
        "7b. The 2/L rule on a quadratic",
        image,
        "Final cost against learning rate on the parabola: a deep notch at 1/L and divergence "
        "past 2/L.",
        f"""<p>On a quadratic with sharpness L the rule is exact: gradient descent diverges for
        every α > 2/L and never below. Measured on <code>x²/2</code> (L = {_g(L)}) with
        {len(grid)} rates: the largest rate that did not diverge was α = {_g(max(stable))}, the
        smallest that did was α = {_g(min(diverged))}; 2/L = {_g(2 / L)}. The best rate,
        α = {_g(sw.best_lr)} = 1/L, reaches the minimum in one step.</p>""",
    )


def _momentum(out: Path) -> _Section:
    momenta = [0.0, 0.5, 0.9, 0.99]
    scene = scenes.heatmap(
        BOWL, lr_grid(0.01, 0.6, 40), optim.sgd(momentum=momenta), steps=MOMENTUM_STEPS
    )
    image = _save(plot.heatmap(scene), out, "momentum.png")
    L = scene.sharpness
    rows = []
    for beta, regimes, limit in zip(scene.values, scene.regimes, scene.boundary):
        stable = scene.lrs[regimes != "diverging"]
        gone = scene.lrs[regimes == "diverging"]
        rows.append(
            f"<tr><td>{_g(beta)}</td><td>{_g(limit)}</td>"
            f"<td>{_g(stable.max()) if stable.size else '–'}</td>"
            f"<td>{_g(gone.min()) if gone.size else '–'}</td></tr>"
        )
    best = scene.sweep.best
    return _Section(
        "momentum",
        "7c. Momentum: a second hyperparameter",
        image,
        "Two heatmaps, learning rate across and momentum down: the regime of each pair and "
        "its final cost, with the stability boundary of each row marked.",
        f"""<p>One batched sweep of every pair: {len(scene.lrs)} learning rates × momentum
        {", ".join(_g(b) for b in momenta)} on the bowl, {MOMENTUM_STEPS} steps each, torch's
        heavy-ball SGD. On a quadratic of sharpness L = {_g(L)} heavy ball is stable exactly
        for <code>α &lt; (2 + 2β)/L</code>: momentum widens the stable range, up to twice
        2/L. The dashed marks are that boundary; the table compares it with the sweep.</p>
        <p>The best pair: α = {_g(best.lr)} with momentum {_g(best.optimizer.momentum)},
        final cost {_g(best.final_loss)}. Near β = 1 the iterates spiral slowly: the stable
        range is widest, but {MOMENTUM_STEPS} steps are not enough to settle.</p>""",
        "<table><thead><tr><th>momentum β</th><th>(2 + 2β)/L</th><th>largest rate that did "
        "not diverge</th><th>smallest that did</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>",
        wide=True,
    )


def _compute_price(out: Path) -> _Section:
    steps = 1000
    grid = np.unique(np.concatenate([lr_grid(1e-3, 3.0, 64), [1.0]]))
    # The default tolerance: a millionth of the starting gap.
    scene = scenes.compute_price(PARABOLA, lrs=grid, steps=steps)
    tol = scene.tol
    image = _save(plot.compute_price(scene), out, "compute_price.png")
    need = {r.lr: n for r, n in zip(scene.sweep.runs, scene.needed)}
    never = [lr for lr, n in need.items() if n is None and lr < 1]
    reached = {lr: n for lr, n in need.items() if n is not None}

    def at(target: float) -> str:
        lr = min(reached, key=lambda x: abs(math.log(x / target)))
        return f"α = {_g(lr)} needs {reached[lr]}"

    below = max(lr for lr in reached if lr < 2.0)
    return _Section(
        "price",
        "8. The price of a low learning rate",
        image,
        "Iterations needed to reach the tolerance against the learning rate, log-log.",
        f"""<p>How many iterations does each rate need to bring <code>x²/2</code> within
        {_g(tol)} of its minimum (a millionth of the starting gap)? One sweep of {len(grid)}
        rates with a budget of {steps} iterations answers it.</p>
        <ul>
        <li>Below α = {_g(max(never)) if never else "–"}: never within the budget.</li>
        <li>{at(0.01)}, {at(0.1)}: ten times the rate, about ten times fewer iterations;
        the cost of a low rate is paid in compute.</li>
        <li>α = 1/L = 1 needs {reached.get(1.0, "–")}: the cheapest.</li>
        <li>Past 1/L the steps overshoot: α = {_g(below)} needs {reached[below]}, and every
        rate above 2/L = 2 diverges.</li>
        </ul>""",
    )


def _network():
    model, _, (X, y), _ = build("digits-mlp", hidden=NET_HIDDEN)
    return model, X[:NET_SAMPLES], y[:NET_SAMPLES]


def _range_test(out: Path) -> _Section:
    model, X, y = _network()
    gen = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(X, y), batch_size=32, shuffle=True, generator=gen
    )
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    rt = range_test(
        model, nn.CrossEntropyLoss(), loader, opt, start_lr=1e-4, end_lr=100.0, num_iter=120
    )
    image = _save(plot.range_test_curve(rt), out, "range_test.png")
    named = ", ".join(f"{k} {_g(v)}" for k, v in rt.suggestions.items() if v is not None)
    rec = (
        f"It recommends α = {_g(rt.recommended)} (the <i>{_e(rt.method)}</i> rule)."
        if rt.recommended is not None
        else "It could not recommend a rate on this curve."
    )
    return _Section(
        "range",
        "9. The LR range test",
        image,
        "Training loss against an exponentially growing learning rate, with the suggestions.",
        f"""<p>A range test trains a model for a short while with the learning rate growing
        exponentially each mini-batch, here {len(rt.lrs)} batches of 32 digits from
        {_g(rt.lrs[0])} to {_g(rt.lrs[-1])}
        {"(it stopped early, when the loss blew up)" if rt.stopped_early else ""}, on a
        64-{NET_HIDDEN}-10 tanh network with cross-entropy, and reads a rate off the loss curve:
        {named}. {rec} The model's weights and the optimizer are restored afterwards.</p>""",
    )


def _sharpness(out: Path) -> _Section:
    model, X, y = _network()
    Y = nn.functional.one_hot(y, 10).to(X.dtype)
    # Squared error on one-hot targets: the loss with which full-batch training is known to
    # sharpen until it reaches 2/alpha (cross-entropy flattens as the classes separate).
    f = objective(model, nn.MSELoss(), (X, Y), name=f"digits, 64-{NET_HIDDEN}-10 MLP, MSE")
    lr, steps = 2.0, 400
    # A looser tolerance than the default: two digits of the top eigenvalue are all a
    # picture needs, and it makes the 41 measurements several times cheaper.
    run = scenes.sharpness_track(f, lr=lr, steps=steps, every=10, tol=1e-3, max_iter=40)
    track = run.sharpness
    image = _save(plot.sharpness_track(run), out, "sharpness.png")
    S = track[:, 1]
    dip = int(np.argmin(S[: max(2, len(S) // 2)]))
    first = int(track[np.argmax(2 / lr <= S), 0]) if (2 / lr <= S).any() else None
    late = S[track[:, 0] >= steps / 2]
    ups = int(np.sum(np.diff(run.losses) > 0))
    reach = (
        (
            f"reaches 2/α = {_g(2 / lr)} near step {first} and then hovers around it (between "
            f"{_g(late.min())} and {_g(late.max())} over the second half)"
        )
        if first is not None
        else f"ends at {_g(S[-1])}, below 2/α = {_g(2 / lr)}"
    )
    return _Section(
        "sharpness",
        "10. Sharpness and the edge of stability",
        image,
        "Sharpness along a full-batch training run against the line 2/alpha, with the cost.",
        f"""<p>On a quadratic, gradient descent is stable only while the sharpness (the top
        eigenvalue of the Hessian) stays below 2/α. Training a network with full batches
        changes the sharpness as it goes: here a 64-{NET_HIDDEN}-10 tanh network on
        {len(X)} digits with squared error and α = {_g(lr)}. The sharpness starts at
        {_g(S[0])}, dips to {_g(S[dip])} by step {int(track[dip, 0])}, then rises steadily
        (<i>progressive sharpening</i>), {reach}. The cost rose on {ups} of its {steps} single steps yet fell
        from {_g(run.losses[0])} to {_g(run.final_loss)} overall: the <i>edge of
        stability</i>, where a run is not <code>diverging</code> although its cost goes up
        often (diagnosis: {_regime(run.regime)}).</p>""",
    )


# ---------------------------------------------------------------------------------------------
# The report.

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; line-height: 1.5; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2.2em; border-bottom: 1px solid #ddd; }
.lede { color: #555; margin-top: 0; }
section .pair { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr);
                gap: 1.6em; align-items: start; }
section.wide .pair { grid-template-columns: 1fr; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0 0.25em; border-radius: 3px; }
.chip { display: inline-block; width: 0.8em; height: 0.8em; border-radius: 50%;
        margin-right: 0.3em; vertical-align: baseline; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3em 0.7em; text-align: left;
         vertical-align: top; }
th { background: #fafafa; }
td:first-child { white-space: nowrap; }
nav { display: flex; flex-wrap: wrap; gap: 0.2em 1.1em; }
.legend td { border: none; padding: 0.15em 0.7em 0.15em 0; }
footer { margin-top: 3em; color: #777; font-size: 0.9em; }
@media (max-width: 800px) { section .pair { grid-template-columns: 1fr; } }
"""

_MEANING = {
    "diverging": "very high: the cost grows by orders of magnitude or stops being finite",
    "too_high": "high: a fast drop, then a plateau above the minimum, bouncing",
    "good": "reaches the minimum (or the best any rate reaches) within the budget",
    "too_low": "low: still descending steadily when the budget runs out",
    "stuck": "low, on a non-convex cost: settled in a stationary point worse than the best",
}


def _html(sections: list[_Section], seconds: float) -> str:
    legend = "".join(
        f"<tr><td>{_regime(r)}</td><td>{_e(REGIME_LABELS[r])}</td><td>{_e(_MEANING[r])}</td></tr>"
        for r in REGIME_COLORS
    )
    nav = "".join(f'<a href="#{s.key}">{_e(s.title)}</a>' for s in sections)
    body = "".join(
        f"""<section id="{s.key}" class="{"wide" if s.wide else ""}"><h2>{_e(s.title)}</h2>
        <div class="pair"><img src="{_e(s.image)}" alt="{_e(s.alt)}"><div>{s.text}</div></div>
        {s.extra}</section>"""
        for s in sections
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lrlab demo: the learning rate of gradient descent</title>
<style>{_CSS}</style></head>
<body>
<h1>The learning rate of gradient descent</h1>
<p class="lede">Gradient descent updates the parameters with
<code>w[n+1] = w[n] − α·∇C(w[n])</code>, and the learning rate α decides everything about
the run. Every picture below was computed just now by lrlab; every number in the text was
measured on the run it describes.</p>
<p>Each run is labelled with one of five regimes, in the same colour in every picture:</p>
<table class="legend">{legend}</table>
<nav>{nav}</nav>
{body}
<footer>Made by lrlab {__version__} in {seconds:.1f} s. Regenerate with
<code>lrlab demo --out DIR</code>.</footer>
</body></html>
"""


def demo(out_dir: str | Path = "lrlab-demo", *, progress: Progress | None = None) -> Path:
    """Draw every learning-rate picture on built-in examples and write a report explaining them.

    Writes the PNG pictures of :mod:`lrlab.plot` and ``index.html`` into ``out_dir``
    (created if missing; files of the same names are replaced). The report shows each
    picture next to a few sentences with the numbers measured in this run, and a regime
    table for a sweep. Takes a few seconds.

    Args:
        out_dir: the folder to write into.
        progress: called as ``progress(done, total)`` after each picture.

    Returns:
        The path of ``index.html``.

    Example:
        >>> import tempfile
        >>> index = demo(tempfile.mkdtemp())  # doctest: +SKIP
        >>> sorted(p.name for p in index.parent.glob("*.png"))[:3]  # doctest: +SKIP
        ['compute_price.png', 'contour_paths.png', 'cost_curves.png']
    """
    if not isinstance(out_dir, (str, Path)):
        _checks.fail("out_dir", out_dir, "expected a folder path", TypeError)
    if progress is not None and not callable(progress):
        _checks.fail("progress", progress, "expected a callable progress(done, total)", TypeError)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        _checks.fail("out_dir", str(out), "exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with _one_thread():
        hill_sweep = scenes.landscape(HILL, lrs=lr_grid(1e-4, 0.3, 60), steps=200)
        makers: list[Callable[[Path], _Section]] = [
            _path,
            _three,
            _cost_curves,
            _step_lengths,
            lambda o: _small_hill(o, hill_sweep.sweep),
            _contour,
            lambda o: _landscape(o, hill_sweep),
            _landscape_parabola,
            _momentum,
            _compute_price,
            _range_test,
            _sharpness,
        ]
        sections = []
        for i, make in enumerate(makers):
            sections.append(make(out))
            if progress is not None:
                progress(i + 1, len(makers))
    index = out / "index.html"
    index.write_text(_html(sections, time.perf_counter() - began), encoding="utf-8")
    return index
