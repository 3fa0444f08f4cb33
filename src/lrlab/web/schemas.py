"""What the web lab's API accepts and answers: its limits, request bodies and response shapes.

Every limit the server enforces on a request's size is stated here, in the request models, so
the OpenAPI schema at ``/openapi.json`` says it too. Limits that depend on the objective (fewer
steps and learning rates for dataset problems, the product ``lanes x steps x parameters``) are
written in the field descriptions and answered with a 400 that names them.

Example:
    >>> RunRequest(objective="parabola", lr=0.1).steps
    200
    >>> Limits().for_objective_kind("dataset")["steps"]
    1000
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .. import expr

__all__ = [
    "CompareOut",
    "CompareRequest",
    "DiagnoseOut",
    "DiagnosisOut",
    "ErrorOut",
    "HeatmapOut",
    "HeatmapRequest",
    "HistoryOut",
    "HistoryRecordOut",
    "Limits",
    "LossesRequest",
    "Marks",
    "ObjectiveOut",
    "ObjectiveRequest",
    "OptimizerSpec",
    "PictureOut",
    "PicturesOut",
    "PicturesRequest",
    "RunOut",
    "RunRequest",
    "SharpnessOut",
    "SharpnessRequest",
    "SuggestRequest",
    "SweepOut",
    "SweepRequest",
    "SweptOptimizer",
]


@dataclass(frozen=True)
class Limits:
    """How much work one request may ask for.

    The request schemas state the default values; a lab built with smaller limits refuses
    more with a 400 that names the limit (limits above the schema's change nothing).

    Attributes:
        steps: most steps per run for analytic objectives (expressions, catalogue).
        lanes: most learning rates in one sweep.
        compare_lanes: most learning rates compared side by side (their full curves come back).
        work: most ``lanes * steps * parameters`` for analytic objectives.
        dataset_steps: most steps per run for dataset problems.
        dataset_lanes: most learning rates per request for dataset problems.
        dataset_work: most ``lanes * steps * parameters`` for dataset problems.
        seconds: the time one computation may take before it is stopped.
        upload_bytes: the largest log file accepted.
        curve_points: most costs in one diagnose request.
        queue: most computations waiting or running at once in each lane (light, heavy);
            more are refused at once with 503 and ``Retry-After``.
        batch_lanes: most lanes that concurrent requests may share in one sweep.

    Example:
        >>> Limits(steps=100).for_objective_kind("analytic")["steps"]
        100
    """

    steps: int = 5000
    lanes: int = 64
    compare_lanes: int = 8
    work: int = 64 * 5000 * 16
    dataset_steps: int = 1000
    dataset_lanes: int = 16
    dataset_work: int = 12 * 200 * 5000
    seconds: float = 30.0
    upload_bytes: int = 5 * 2**20
    curve_points: int = 200_000
    queue: int = 256
    batch_lanes: int = 512

    @property
    def body_bytes(self) -> int:
        """The largest request body: a log of ``upload_bytes`` with its form's framing, or a
        JSON body of the same size."""
        return self.upload_bytes + 2**20

    def for_objective(self, f) -> dict:
        """The limits that apply to the objective ``f``, as the page shows them."""
        return self.for_objective_kind(f.kind)

    def for_objective_kind(self, kind: str) -> dict:
        """The limits that apply to objectives of ``kind`` ("dataset" or any other)."""
        if kind == "dataset":
            return {
                "steps": self.dataset_steps,
                "lanes": self.dataset_lanes,
                "compare_lanes": min(self.compare_lanes, self.dataset_lanes),
                "work": self.dataset_work,
            }
        return {
            "steps": self.steps,
            "lanes": self.lanes,
            "compare_lanes": self.compare_lanes,
            "work": self.work,
        }


_DEFAULT = Limits()

# ---------------------------------------------------------------------------------------------
# Request models.


def _whole(x: Any) -> Any:
    # JSON Schema's integer is any number without a fraction (3.0 included); bodies are parsed
    # strictly otherwise, so that true, false and "3" are refused.
    return int(x) if type(x) is float and x.is_integer() else x


#: A count: an integer, also when written 3.0.
Count = BeforeValidator(_whole)

ObjectiveText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=expr.MAX_LENGTH,
        description="A catalogue name ('rosenbrock', 'bowl:kappa=10'), a dataset problem "
        "('digits-mlp') or a cost expression ('x**4 - 4*x**2 + x').",
        examples=["rosenbrock"],
    ),
]
#: The largest learning rate a request may name (the automatic grids stay below it too).
MAX_RATE = 1e6
Rate = Annotated[
    float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False, description="A learning rate.")
]
Coordinate = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Point = Annotated[
    list[Coordinate],
    Field(
        min_length=1,
        max_length=expr.MAX_PARAMS,
        description="A point, one number per parameter (analytic objectives only).",
    ),
]
Steps = Annotated[
    int,
    Field(
        ge=1,
        le=_DEFAULT.steps,
        description=f"Steps per run: at most {_DEFAULT.steps} ({_DEFAULT.dataset_steps} for "
        f"dataset problems), and at most {_DEFAULT.work:,} learning rates x steps x parameters "
        f"({_DEFAULT.dataset_work:,} for dataset problems).",
    ),
    Count,
]


class _Body(BaseModel):
    # Strict: a number is a JSON number (never true, false or a string of digits), a count is
    # an integer; nothing the schema does not state is accepted.
    model_config = ConfigDict(extra="forbid", strict=True)


class ObjectiveRequest(_Body):
    objective: ObjectiveText
    start: Point | None = None
    resolution: Annotated[
        int, Field(ge=16, le=200, description="Grid points per side of the contour."), Count
    ] = 90


class OptimizerSpec(_Body):
    """The update rule, as :func:`lrlab.optim.get` reads it (torch.optim's names and defaults)."""

    name: Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"] = "sgd"
    momentum: Annotated[
        float,
        Field(ge=0, lt=1, allow_inf_nan=False, description="Heavy-ball momentum (sgd, rmsprop)."),
    ] = 0.0


class RunRequest(_Body):
    objective: ObjectiveText
    lr: Rate
    steps: Steps = 200
    start: Point | None = None
    optimizer: OptimizerSpec | None = None


class CompareRequest(_Body):
    objective: ObjectiveText
    lrs: Annotated[
        list[Rate],
        Field(
            min_length=1,
            max_length=_DEFAULT.compare_lanes,
            description="The learning rates, side by side (their full curves come back).",
        ),
    ]
    steps: Steps = 200
    start: Point | None = None
    optimizer: OptimizerSpec | None = None


class PicturesRequest(_Body):
    objective: ObjectiveText
    steps: Steps = 200
    start: Point | None = None


#: Learning rates in a sweep's or a heatmap's grid when a request leaves ``num`` out (fewer
#: when the objective's limits allow fewer).
GRID_NUM = 40


class _GridRequest(_Body):
    """A learning-rate grid on an objective; a bound left out is chosen from its sharpness."""

    objective: ObjectiveText
    lr_min: Rate | None = None
    lr_max: Rate | None = None


class SweepRequest(_GridRequest):
    num: Annotated[
        int | None,
        Field(
            ge=2,
            le=_DEFAULT.lanes,
            description=f"Learning rates in the grid ({_DEFAULT.dataset_lanes} at most for "
            "dataset problems, and within the work limit of Steps). Left out: "
            f"{GRID_NUM}, or as many as the limits allow if fewer.",
        ),
        Count,
    ] = None
    steps: Steps = 200
    start: Point | None = None


#: Most values of the swept hyperparameter in one heatmap.
HEATMAP_VALUES = 12


class SweptOptimizer(_Body):
    """A heavy-ball rule with a list of momentum values: each is swept with every learning rate."""

    name: Literal["sgd", "rmsprop"] = "sgd"
    momentum: Annotated[
        list[Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]],
        Field(
            min_length=1,
            max_length=HEATMAP_VALUES,
            description="The momentum values (rows of the heatmap), each in [0, 1).",
        ),
    ]


class HeatmapRequest(_GridRequest):
    num: Annotated[
        int | None,
        Field(
            ge=2,
            le=_DEFAULT.lanes,
            description=f"Learning rates in the grid (columns). The runs are every pair: "
            f"num x len(momentum) is at most {_DEFAULT.lanes} ({_DEFAULT.dataset_lanes} for "
            f"dataset problems), within the work limit of Steps. Left out: {GRID_NUM}, or "
            "as many as the limits allow with the momentum values asked for if fewer.",
        ),
        Count,
    ] = None
    steps: Steps = 200
    start: Point | None = None
    optimizer: SweptOptimizer


class SharpnessRequest(_Body):
    objective: ObjectiveText
    at: Point | None = None


class SuggestRequest(_Body):
    objective: ObjectiveText
    steps: Steps | None = None
    start: Point | None = None


class LossesRequest(_Body):
    losses: Annotated[
        list[float | None],
        Field(
            min_length=2,
            max_length=_DEFAULT.curve_points,
            description="Costs, one per logged step; null for a non-finite value.",
        ),
    ]
    floor: Annotated[float | None, Field(allow_inf_nan=False)] = None
    lr: Rate | None = None


# ---------------------------------------------------------------------------------------------
# Response models: they document the JSON; the bodies are written straight from the library's
# records (see ``routes.dumps``).


class ErrorOut(BaseModel):
    detail: str
    position: int | None = None
    reason: str | None = None
    errors: list[dict] | None = None
    limit_bytes: int | None = None


class DiagnosisOut(BaseModel):
    regime: str
    confidence: float
    evidence: dict[str, Any]
    advice: str
    next_lr: float | None = None


class RunOut(BaseModel):
    objective: str
    lr: float
    steps: int
    losses: list[float | None]
    grad_norms: list[float | None]
    step_sizes: list[float | None]
    params: list[list[float | None]] | None = Field(
        None, description="The path w[0..n], kept for objectives of up to 16 parameters."
    )
    final_loss: float | None
    diverged_at: int | None
    floor: float | None
    regime: str
    diagnosis: DiagnosisOut


class CompareOut(BaseModel):
    objective: str
    steps: int
    floor: float | None
    best_lr: float
    runs: list[RunOut]


class PictureOut(BaseModel):
    label: str = Field(description="The seed's name for the picture: 'too low', 'good', ...")
    run: RunOut


class Marks(BaseModel):
    sharpness: float | None = Field(None, description="Top Hessian eigenvalue L.")
    where: str | None = Field(None, description="'minimum' (known) or 'start' (measured).")
    one_over_L: float | None = None
    two_over_L: float | None = None


class SweepRunOut(BaseModel):
    lr: float
    final_loss: float | None
    regime: str
    diverged_at: int | None
    confidence: float


class SweepOut(BaseModel):
    objective: str
    steps: int
    floor: float | None
    best_lr: float
    runs: list[SweepRunOut]
    marks: Marks


class HeatmapOut(BaseModel):
    objective: str
    steps: int
    optimizer: dict = Field(description="The rule, with the list of swept values.")
    name: str = Field(description="The swept hyperparameter ('momentum').")
    values: list[float] = Field(description="Its values: the rows.")
    lrs: list[float] = Field(description="The learning rates: the columns, ascending.")
    costs: list[list[float | None]] = Field(description="Final cost per row and column.")
    regimes: list[list[str]] = Field(description="The regime per row and column.")
    sharpness: float | None = Field(None, description="L, for the stability boundary.")
    boundary: list[float | None] | None = Field(
        None,
        description="Per row, the largest stable learning rate on a quadratic of "
        "sharpness L: (2 + 2*momentum)/L for heavy ball; null when unknown.",
    )
    best: dict
    record: str | None = Field(None, description="The record's id when the lab keeps records.")


class HistoryRecordOut(BaseModel):
    id: str
    kind: str
    objective: str
    status: str
    steps: int | None
    steps_done: int | None
    lanes: int | None
    created: str
    params: dict | None = None
    output: dict | None = None
    environment: dict | None = None
    curves: list[dict] | None = Field(
        None, description="A sweep's cost curves, one per run ({lr, losses}), when small enough."
    )
    note: str | None = Field(None, description="Why the curves are left out, if they are.")


class HistoryOut(BaseModel):
    store: str | None = Field(None, description="The store's URL (None: records are off).")
    recording: bool = Field(description="Whether runs made here are recorded.")
    problem: str | None = Field(None, description="Why the store cannot be used, if so.")
    records: list[HistoryRecordOut]


class PicturesOut(BaseModel):
    objective: str
    steps: int
    marks: Marks
    sweep: dict
    paths: list[PictureOut]
    curves: list[PictureOut]


class ObjectiveOut(BaseModel):
    name: str
    kind: str
    dim: int
    params: list[str] | None
    formula: str | None
    description: str
    start: list[float | None] | None
    minimum: float | None
    minima: list[dict]
    sharpness_at_minimum: float | None
    box: list[list[float]] | None
    batch_size: int | None
    marks: Marks
    lr_range: list[float]
    default_lr: float
    default_steps: int
    limits: dict
    surface: dict | None = Field(None, description="{x, y, z}: the curve (1-D) or the grid (2-D).")


class SharpnessOut(BaseModel):
    objective: str
    sharpness: float | None
    at: list[float | None] | None = Field(
        None, description="The point measured; left out for objectives of over 16 parameters."
    )


class DiagnoseOut(DiagnosisOut):
    values: list[float | None]
    steps: list[float | None]
    column: str | None = None
    available: list[str] = []
    source: str | None = None
    points: int
