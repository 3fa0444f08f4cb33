"""Named analytic cost functions, each with the facts a learner checks a run against.

An :class:`Entry` bundles a cost ``fn`` (a torch function of a lane-batched parameter tensor
``W`` of shape ``(..., d)``) with its formula, a default start, every minimum worth knowing
and its *sharpness*: the largest Hessian eigenvalue at the global minimum. Sharpness is the
number that ties a cost to the learning rate: near a minimum with sharpness ``S``, plain
gradient descent converges for ``lr < 2/S`` and diverges for ``lr > 2/S``.

Names may carry options, ``name:key=value[,key=value]``; ``get("bowl:kappa=100")`` builds
the quadratic bowl with condition number 100.

Example:
    >>> import torch
    >>> from lrlab.analytic import get
    >>> e = get("rosenbrock")
    >>> e.formula
    '(1 - x)**2 + 100*(y - x**2)**2'
    >>> float(e.fn(torch.tensor([1.0, 1.0], dtype=torch.float64)))
    0.0
    >>> round(2 / e.sharpness, 6)  # the largest stable learning rate at the minimum
    0.001997
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ._checks import closest, fail
from ._format import exact, parse_spec

__all__ = ["Entry", "Minimum", "entries", "get", "names"]


@dataclass(frozen=True)
class Minimum:
    """A known minimum of a catalogue entry.

    Attributes:
        point: the coordinates of the minimum, one per parameter.
        value: the cost at ``point``.
        kind: ``"global"`` or ``"local"``.

    Example:
        >>> Minimum(point=(1.0, 1.0), value=0.0, kind="global").kind
        'global'
    """

    point: tuple[float, ...]
    value: float
    kind: str


@dataclass(frozen=True)
class Entry:
    """One catalogue cost function with its known facts.

    Attributes:
        name: canonical name including options, e.g. ``"bowl:kappa=10"``; ``get(name)``
            rebuilds the same entry.
        description: one sentence on what makes this cost interesting for the learning rate.
        formula: the cost as plain math text in the names of ``params``, ``**`` for powers.
        params: coordinate names, ``("x",)`` or ``("x", "y")``.
        fn: maps ``W`` of shape ``(..., d)`` to the cost of shape ``(...)``, elementwise over
            the leading dimensions and differentiable.
        start: default start, away from minima and saddles so the learning rate matters.
        minima: every minimum worth knowing, global ones first.
        sharpness: largest Hessian eigenvalue at the first global minimum.
        box: plotting range ``(low, high)`` per coordinate; holds ``start`` and all ``minima``.
        options: the options this entry was built with, as ``(key, value)`` pairs.

    Example:
        >>> e = get("parabola:L=4")
        >>> e.name, e.sharpness, e.minimum
        ('parabola:L=4', 4.0, 0.0)
    """

    name: str
    description: str
    formula: str
    params: tuple[str, ...]
    fn: Callable[[torch.Tensor], torch.Tensor]
    start: tuple[float, ...]
    minima: tuple[Minimum, ...]
    sharpness: float
    box: tuple[tuple[float, float], ...]
    options: tuple[tuple[str, float], ...] = ()

    @property
    def minimum(self) -> float:
        """The global minimum value.

        Example:
            >>> get("six-hump-camel").minimum
            -1.0316284534898774
        """
        return self.minima[0].value

    @property
    def dim(self) -> int:
        """The number of coordinates ``d``.

        Example:
            >>> get("hill").dim
            1
        """
        return len(self.params)


# ----------------------------------------------------------------------------- cost functions
# Each cost reads its coordinates from the last axis and uses only elementwise torch ops, so
# one call evaluates a whole batch of lanes (K, d) or a plotting grid (H, W, d).


def _coords(W: torch.Tensor, d: int) -> tuple[torch.Tensor, ...]:
    if W.shape[-1:] != (d,):
        fail("W.shape", tuple(W.shape), f"expected a last axis of length {d}")
    return W.unbind(-1)  # unbind: its backward stacks, where indexing would zero-fill


def _parabola(W: torch.Tensor, *, L: float) -> torch.Tensor:
    (x,) = _coords(W, 1)
    return L / 2 * x**2


def _bowl(W: torch.Tensor, *, kappa: float) -> torch.Tensor:
    x, y = _coords(W, 2)
    return 0.5 * (x**2 + kappa * y**2)


def _hill(W: torch.Tensor) -> torch.Tensor:
    (x,) = _coords(W, 1)
    return x**4 - 4 * x**2 + x


def _rosenbrock(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return (1 - x) ** 2 + 100 * (y - x**2) ** 2


def _beale(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return (x**2 + y - 11) ** 2 + (x + y**2 - 7) ** 2


def _booth(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _matyas(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return 0.26 * (x**2 + y**2) - 0.48 * x * y


def _rastrigin(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return 20 + x**2 - 10 * torch.cos(2 * math.pi * x) + y**2 - 10 * torch.cos(2 * math.pi * y)


def _three_hump_camel(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return 2 * x**2 - 1.05 * x**4 + x**6 / 6 + x * y + y**2


def _six_hump_camel(W: torch.Tensor) -> torch.Tensor:
    x, y = _coords(W, 2)
    return (4 - 2.1 * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2


# ----------------------------------------------------------------------------- exact facts


def _top_eigenvalue(a: float, b: float, d: float) -> float:
    """Largest eigenvalue of the symmetric 2x2 matrix [[a, b], [b, d]], in closed form."""
    return (a + d) / 2 + math.hypot((a - d) / 2, b)


def _hill_stationary_points() -> tuple[float, float, float]:
    """The roots of f'(x) = 4x^3 - 8x + 1: global minimum, hilltop, local minimum."""
    roots = np.sort(np.roots([4.0, 0.0, -8.0, 1.0]).real)
    # np.roots goes through an eigenvalue solver and can be a few ulp off; Newton polishes
    # the roots to full float precision.
    for _ in range(3):
        roots = roots - (4 * roots**3 - 8 * roots + 1) / (12 * roots**2 - 8)
    low, top, high = (float(r) for r in roots)
    return low, top, high


_HILL_GLOBAL, _HILL_TOP, _HILL_LOCAL = _hill_stationary_points()

# Three-hump camel: on the line y = -x/2 the gradient vanishes where x^4 - 4.2 x^2 + 3.5 = 0;
# the larger root for x^2 gives the two local minima (the smaller one gives saddles).
_CAMEL3_X = math.sqrt((4.2 + math.sqrt(3.64)) / 2)

# Roots of the gradient found by Newton's method at 40 digits, rounded to float64;
# tests/test_analytic.py checks that the gradient vanishes there.
_HIMMELBLAU_MINIMA = (
    (3.0, 2.0),
    (-2.8051180869527449, 3.1313125182505730),
    (-3.7793102533777469, -3.2831859912861694),
    (3.5844283403304917, -1.8481265269644036),
)
_CAMEL6_GLOBAL = (0.089842013100318062, -0.71265640302073963)
_CAMEL6_LOCAL_LOW = (-1.7036067149699808, 0.79608356867262512)  # value about -0.2155
_CAMEL6_LOCAL_HIGH = (1.6071047529201972, 0.56865145488413137)  # value about 2.1043
_RASTRIGIN_1 = 0.99495863765233480  # 1-D Rastrigin's first local minimum: t = -10 pi sin(2 pi t)


def _value(fn: Callable[[torch.Tensor], torch.Tensor], point: tuple[float, ...]) -> float:
    return float(fn(torch.tensor(point, dtype=torch.float64)))


def _minima(
    fn: Callable[[torch.Tensor], torch.Tensor],
    global_points: tuple[tuple[float, ...], ...],
    local_points: tuple[tuple[float, ...], ...] = (),
) -> tuple[Minimum, ...]:
    """Minima with values from ``fn`` itself, so listed values and the cost always agree."""
    return tuple(Minimum(p, _value(fn, p), "global") for p in global_points) + tuple(
        Minimum(p, _value(fn, p), "local") for p in local_points
    )


# ----------------------------------------------------------------------------- entries


def _build_parabola(*, L: float) -> Entry:
    fn = partial(_parabola, L=L)
    return Entry(
        name=f"parabola:L={exact(L)}",
        description=(
            "The one-dimensional quadratic L/2*x**2, where every step multiplies x by (1 - lr*L): "
            "gradient descent creeps for small lr, oscillates above 1/L and diverges above 2/L."
        ),
        formula="x**2" if L == 2 else f"{exact(L / 2)}*x**2",
        params=("x",),
        fn=fn,
        start=(1.0,),
        minima=_minima(fn, ((0.0,),)),
        sharpness=L,
        box=((-2.0, 2.0),),
        options=(("L", L),),
    )


def _build_bowl(*, kappa: float) -> Entry:
    fn = partial(_bowl, kappa=kappa)
    return Entry(
        name=f"bowl:kappa={exact(kappa)}",
        description=(
            "An ill-conditioned quadratic bowl whose curvatures differ by the factor kappa: "
            "a learning rate safe for the steep y direction (below 2/kappa) crawls along the "
            "flat x direction, so gradient descent zig-zags."
        ),
        formula=f"0.5*(x**2 + {exact(kappa)}*y**2)",
        params=("x", "y"),
        fn=fn,
        start=(2.0, 1.0),
        minima=_minima(fn, ((0.0, 0.0),)),
        sharpness=kappa,
        box=((-2.5, 2.5), (-1.5, 1.5)),
        options=(("kappa", kappa),),
    )


def _build_hill() -> Entry:
    return Entry(
        name="hill",
        description=(
            "A shallow well on the right and a deeper one on the left of a small hill: from "
            "x = 2.2, learning rates up to about 0.08 settle in the nearer, shallower well, while "
            "about 0.08 to 0.107 overshoot the hill and land in the global minimum."
        ),
        formula="x**4 - 4*x**2 + x",
        params=("x",),
        fn=_hill,
        start=(2.2,),
        minima=_minima(_hill, ((_HILL_GLOBAL,),), ((_HILL_LOCAL,),)),
        sharpness=12 * _HILL_GLOBAL**2 - 8,
        box=((-2.5, 2.5),),
    )


def _build_rosenbrock() -> Entry:
    return Entry(
        name="rosenbrock",
        description=(
            "A curved, narrow valley: the walls are so steep (sharpness about 1000) that a stable "
            "learning rate must stay below 0.002, which makes the walk along the valley floor "
            "to (1, 1) very slow."
        ),
        formula="(1 - x)**2 + 100*(y - x**2)**2",
        params=("x", "y"),
        fn=_rosenbrock,
        start=(-1.2, 1.0),
        minima=_minima(_rosenbrock, ((1.0, 1.0),)),
        # Hessian at (1, 1) is [[802, -400], [-400, 200]].
        sharpness=(1002 + math.sqrt(1002404)) / 2,
        box=((-2.0, 2.0), (-1.0, 3.0)),
    )


def _build_beale() -> Entry:
    return Entry(
        name="beale",
        description=(
            "Flat plateaus next to walls that rise with y**3: the gradient is tiny on the "
            "plateaus and huge near the corners, so one learning rate is too small in one place "
            "and too large in another."
        ),
        formula="(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
        params=("x", "y"),
        fn=_beale,
        start=(1.0, 1.5),
        minima=_minima(_beale, ((3.0, 0.5),)),
        # Every residual vanishes at (3, 0.5), so the Hessian is 2 J^T J with J the residuals'
        # Jacobian: [[3.15625, -11.4375], [-11.4375, 46.125]].
        sharpness=_top_eigenvalue(3.15625, -11.4375, 46.125),
        box=((-1.0, 4.5), (-1.5, 2.0)),
    )


def _build_himmelblau() -> Entry:
    return Entry(
        name="himmelblau",
        description=(
            "Four global minima of equal value 0 but different sharpness (82 to 134): from the "
            "default start, learning rates up to about 0.013 settle at (-3.78, -3.28) and larger "
            "stable ones end at (-2.81, 3.13)."
        ),
        formula="(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
        params=("x", "y"),
        fn=_himmelblau,
        start=(-4.0, 0.0),
        minima=_minima(_himmelblau, _HIMMELBLAU_MINIMA),
        # At (3, 2) both residuals vanish; the Hessian is 2 J^T J = [[74, 20], [20, 34]].
        sharpness=54 + 20 * math.sqrt(2),
        box=((-5.0, 5.0), (-5.0, 5.0)),
    )


def _build_booth() -> Entry:
    return Entry(
        name="booth",
        description=(
            "A tilted quadratic with condition number 9: gradient descent converges for any "
            "learning rate below 2/18 and oscillates across the narrow direction as it nears "
            "that limit."
        ),
        formula="(x + 2*y - 7)**2 + (2*x + y - 5)**2",
        params=("x", "y"),
        fn=_booth,
        start=(-4.0, 0.0),
        minima=_minima(_booth, ((1.0, 3.0),)),
        sharpness=18.0,  # Hessian [[10, 8], [8, 10]], eigenvalues 18 and 2.
        box=((-10.0, 10.0), (-10.0, 10.0)),
    )


def _build_matyas() -> Entry:
    return Entry(
        name="matyas",
        description=(
            "A quadratic much flatter along the diagonal than across it (curvature 0.04 against "
            "1): even lr = 1, which settles the steep direction in one step, shrinks the flat "
            "direction by only 4% per step."
        ),
        formula="0.26*(x**2 + y**2) - 0.48*x*y",
        params=("x", "y"),
        fn=_matyas,
        start=(8.0, 2.0),
        minima=_minima(_matyas, ((0.0, 0.0),)),
        sharpness=1.0,  # Hessian [[0.52, -0.48], [-0.48, 0.52]], eigenvalues 1 and 0.04.
        box=((-10.0, 10.0), (-10.0, 10.0)),
    )


def _build_rastrigin() -> Entry:
    a = _RASTRIGIN_1
    neighbours = ((a, 0.0), (-a, 0.0), (0.0, a), (0.0, -a), (a, a), (-a, -a), (a, -a), (-a, a))
    return Entry(
        name="rastrigin",
        description=(
            "A bowl covered in ripples with a local minimum near every integer point: a small "
            "learning rate gets caught by the nearest ripple, and the sharpness of about 400 "
            "makes every learning rate above 0.005 unstable in all of them."
        ),
        formula="20 + x**2 - 10*cos(2*pi*x) + y**2 - 10*cos(2*pi*y)",
        params=("x", "y"),
        fn=_rastrigin,
        start=(1.3, -0.7),
        # The minima form a grid; these are the global one and its eight neighbours.
        minima=_minima(_rastrigin, ((0.0, 0.0),), neighbours),
        sharpness=2 + 40 * math.pi**2,  # Hessian diag(2 + 40 pi^2, 2 + 40 pi^2) at the origin.
        box=((-5.12, 5.12), (-5.12, 5.12)),
    )


def _build_three_hump_camel() -> Entry:
    x = _CAMEL3_X
    return Entry(
        name="three-hump-camel",
        description=(
            "A global minimum at the origin flanked by two sharper local minima: from the default "
            "start, learning rates up to about 0.14 stop in a flank and larger stable ones "
            "reach the middle."
        ),
        formula="2*x**2 - 1.05*x**4 + x**6/6 + x*y + y**2",
        params=("x", "y"),
        fn=_three_hump_camel,
        start=(-2.0, 0.0),
        minima=_minima(_three_hump_camel, ((0.0, 0.0),), ((x, -x / 2), (-x, x / 2))),
        sharpness=3 + math.sqrt(2),  # Hessian [[4, 1], [1, 2]] at the origin.
        box=((-2.5, 2.5), (-2.5, 2.5)),
    )


def _build_six_hump_camel() -> Entry:
    gx, gy = _CAMEL6_GLOBAL
    lx, ly = _CAMEL6_LOCAL_LOW
    hx, hy = _CAMEL6_LOCAL_HIGH
    return Entry(
        name="six-hump-camel",
        description=(
            "Two global minima and four local ones: from the default start, learning rates up "
            "to about 0.08 stop in the high local minimum at (-1.61, -0.57) while larger stable "
            "ones jump to the global minimum at (0.09, -0.71)."
        ),
        formula="(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
        params=("x", "y"),
        fn=_six_hump_camel,
        start=(-1.9, -0.6),
        minima=_minima(
            _six_hump_camel,
            ((gx, gy), (-gx, -gy)),
            ((lx, ly), (-lx, -ly), (hx, hy), (-hx, -hy)),
        ),
        # Hessian [[8 - 25.2 x^2 + 10 x^4, 1], [1, -8 + 48 y^2]] at the global minimum.
        sharpness=_top_eigenvalue(8 - 25.2 * gx**2 + 10 * gx**4, 1.0, -8 + 48 * gy**2),
        box=((-2.0, 2.0), (-1.2, 1.2)),
    )


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class _Option:
    default: float
    low: float
    high: float
    low_open: bool  # whether ``low`` itself is excluded
    meaning: str

    def allowed(self, key: str) -> str:
        low_sign = "<" if self.low_open else "<="
        return (
            f"{key} ({self.meaning}) must be a number with "
            f"{exact(self.low)} {low_sign} {key} <= {exact(self.high)}"
        )

    def accepts(self, v: float) -> bool:
        above_low = v > self.low if self.low_open else v >= self.low
        return math.isfinite(v) and above_low and v <= self.high


@dataclass(frozen=True)
class _Spec:
    build: Callable[..., Entry]
    options: Mapping[str, _Option]


_SPECS: dict[str, _Spec] = {
    "parabola": _Spec(
        _build_parabola, {"L": _Option(2.0, 0.0, 1e6, True, "curvature = sharpness")}
    ),
    "bowl": _Spec(_build_bowl, {"kappa": _Option(10.0, 1.0, 1e6, False, "condition number")}),
    "hill": _Spec(_build_hill, {}),
    "rosenbrock": _Spec(_build_rosenbrock, {}),
    "beale": _Spec(_build_beale, {}),
    "himmelblau": _Spec(_build_himmelblau, {}),
    "booth": _Spec(_build_booth, {}),
    "matyas": _Spec(_build_matyas, {}),
    "rastrigin": _Spec(_build_rastrigin, {}),
    "three-hump-camel": _Spec(_build_three_hump_camel, {}),
    "six-hump-camel": _Spec(_build_six_hump_camel, {}),
}


def _parse_options(base: str, text: str, options: Mapping[str, _Option]) -> dict[str, float]:
    """Read ``key=value[,key=value]`` into floats, filling in defaults."""
    example = ",".join(f"{k}={exact(o.default)}" for k, o in options.items())
    _, given = parse_spec(f"{base}:{text}", options, example=example)
    values = {key: opt.default for key, opt in options.items()}
    for key, raw in given.items():
        try:
            v = float(raw)
        except ValueError:
            v = math.nan
        if not options[key].accepts(v):
            fail(key, raw, options[key].allowed(key))
        values[key] = v
    return values


# ----------------------------------------------------------------------------- public API


def names() -> list[str]:
    """The catalogue names, without options, sorted.

    Example:
        >>> names()[:3]
        ['beale', 'booth', 'bowl']
    """
    return sorted(_SPECS)


def entries() -> list[Entry]:
    """One entry per catalogue name, built with default options, in the order of :func:`names`.

    Example:
        >>> [e.name for e in entries()][:3]
        ['beale', 'booth', 'bowl:kappa=10']
    """
    return [get(n) for n in names()]


def get(name: str) -> Entry:
    """The catalogue entry called ``name``, optionally with options ``name:key=value,...``.

    Args:
        name: a name from :func:`names`, e.g. ``"rosenbrock"``, optionally followed by options:
            ``"parabola:L=4"`` (curvature ``L > 0``) or ``"bowl:kappa=100"`` (condition
            number ``kappa >= 1``). Options left out take their defaults (``L=2``, ``kappa=10``).

    Returns:
        The :class:`Entry`; its ``name`` is the canonical form with every option spelled out.

    Raises:
        TypeError: if ``name`` is not a string.
        ValueError: for an unknown name (with the closest known names), an unknown option,
            or an option value that is not a number in the allowed range.

    Example:
        >>> get("bowl:kappa=100").sharpness
        100.0
        >>> get("rosenbrok")
        Traceback (most recent call last):
        ...
        ValueError: unknown objective 'rosenbrok'; did you mean rosenbrock?
    """
    if not isinstance(name, str):
        fail("name", name, "expected a catalogue name such as 'rosenbrock'", TypeError)
    base, _, option_text = name.partition(":")
    base = base.strip().lower()
    spec = _SPECS.get(base)
    if spec is None:
        close = closest(base, _SPECS)
        hint = (
            f"did you mean {', '.join(close)}?" if close else f"choose one of {', '.join(names())}"
        )
        raise ValueError(f"unknown objective {base!r}; {hint}")
    return spec.build(**_parse_options(base, option_text, spec.options))
