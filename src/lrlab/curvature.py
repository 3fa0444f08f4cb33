"""Curvature of a cost: the top eigenvalues of its Hessian, from Hessian-vector products only.

The *sharpness* of a cost ``C`` at a point ``w`` is the largest eigenvalue of its Hessian,

    S(w) = lambda_max(H(w)),    H(w) = d^2 C / dw^2 (w).

It ties curvature to the learning rate: on a quadratic with sharpness ``S``, gradient descent
multiplies the error along the top eigenvector by ``1 - alpha * S`` per step, so it converges
for ``alpha < 2 / S`` and diverges for ``alpha > 2 / S``; ``alpha = 1 / S`` is the classic safe
choice (the descent lemma guarantees progress on every ``S``-smooth cost). The *largest
algebraic* eigenvalue is the one that matters, not the largest in magnitude: a direction of
negative curvature makes gradient descent move away from a saddle for every ``alpha > 0``, it
never limits the learning rate. On neural networks, full-batch gradient descent drives the
sharpness up until it hovers at ``2 / alpha`` (the edge of stability), which
``lrlab.descend(..., track_sharpness=k)`` shows.

The eigenvalues come from the Lanczos algorithm on Hessian-vector products

    H v = d/dt grad C(w + t v) |_{t=0},

computed by double backpropagation (one gradient graph, reused for every product), so the
Hessian is never formed: a product costs a few gradient evaluations and ``O(dim)`` memory.
Lanczos builds an orthonormal basis ``Q_m`` of the Krylov space ``span{v, Hv, ..., H^{m-1} v}``
in which ``Q_m^T H Q_m = T_m`` is tridiagonal; the eigenvalues of ``T_m`` (Ritz values)
converge to the extreme eigenvalues of ``H`` far faster than power iteration (the error falls
like ``exp(-4 m sqrt(gap))`` rather than ``(1 - gap)^(2m)`` for a relative gap ``gap``). The
basis is fully reorthogonalised, which costs ``O(m^2 dim)`` and removes the spurious copies
of converged eigenvalues that plain Lanczos produces in floating point.

Products are computed in the objective's dtype; the Lanczos basis, the tridiagonal matrix and
all its arithmetic are float64.

Example:
    >>> import lrlab
    >>> round(lrlab.sharpness("bowl:kappa=10"), 6)
    10.0
    >>> lrlab.hessian_eigenvalues("x**2 + 3*y**2 + 5*z**2", k=2).round(6).tolist()
    [10.0, 6.0]

References:
    C. Lanczos, "An iteration method for the solution of the eigenvalue problem of linear
    differential and integral operators", J. Res. Nat. Bur. Standards 45 (1950).
    G. H. Golub and C. F. Van Loan, "Matrix Computations", 4th ed. (2013), sections 10.1-10.3
    (convergence and the residual bound ``|theta - lambda| <= beta_m |s_m|``).
    B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6 (1994).
    J. Cohen, S. Kaur, Y. Li, J. Z. Kolter, A. Talwalkar, "Gradient descent on neural networks
    typically occurs at the edge of stability", ICLR 2021, arXiv:2103.00065.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from . import _checks
from .objectives import objective

__all__ = ["hessian_eigenvalues", "sharpness"]

#: Most Lanczos iterations anyone may ask for (each keeps one basis vector in memory).
MAX_ITER = 10_000

Matvec = Callable[[torch.Tensor], torch.Tensor]
#: ``progress(done, total)``, called after each Lanczos iteration; raising from it stops the work
#: (the web lab's deadline), so a long computation can be cut short between two iterations.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class _Lanczos:
    """What one Lanczos run found: top Ritz values (descending), their residuals and vector."""

    values: np.ndarray
    residuals: np.ndarray
    vector: torch.Tensor  # Ritz vector of the top value, float64, unit norm
    iterations: int
    converged: bool


def _hvp(f, at: torch.Tensor, batch) -> Matvec:
    """``v -> H(at) v`` for ``f.cost``, by double backpropagation through one kept graph."""
    w = at.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        cost = f.cost(w, batch)
        if not isinstance(cost, torch.Tensor) or cost.numel() != 1:
            raise ValueError("the objective's cost must be a scalar tensor")
        _checks.finite_cost("at", at, float(cost.detach()))
        (grad,) = torch.autograd.grad(cost, w, create_graph=True)
    dtype = f.dtype

    def matvec(v: torch.Tensor) -> torch.Tensor:
        if not grad.requires_grad:  # the gradient is constant: the cost is linear in w
            return torch.zeros_like(v)
        with torch.enable_grad():
            (hv,) = torch.autograd.grad(
                grad,
                w,
                grad_outputs=v.to(dtype=dtype, device=w.device),
                retain_graph=True,
                allow_unused=True,
            )
        return torch.zeros_like(v) if hv is None else hv.detach().to(torch.float64).cpu()

    return matvec


def _lanczos(
    matvec: Matvec,
    dim: int,
    k: int,
    *,
    tol: float,
    max_iter: int,
    gen: torch.Generator,
    v0: torch.Tensor | None = None,
    progress: Progress | None = None,
) -> _Lanczos:
    """The ``k`` largest eigenvalues of the symmetric operator ``matvec`` by Lanczos.

    Stops when each of the top ``k`` Ritz pairs ``(theta, y)`` has residual
    ``|H y - theta y| = beta_m |s_m| <= tol * max|theta|`` (``s_m``: last entry of the
    eigenvector of ``T_m``), or after ``min(max_iter, dim)`` iterations. An exhausted Krylov
    space (``beta`` vanishing: the start vector lay in an invariant subspace) is not the end:
    the search restarts from a fresh random direction orthogonal to the basis, so repeated
    eigenvalues are found with their multiplicity.
    """
    m_max = min(max_iter, dim)
    # The basis grows as needed (doubling), so memory follows the iterations actually used,
    # typically a few dozen vectors, not max_iter of them.
    Q = torch.zeros(min(m_max, 16), dim, dtype=torch.float64)
    # The small tridiagonal problem stays in torch: mixing in numpy's BLAS threads makes them
    # contend with torch's for the cores and slows the Hessian-vector products many times over.
    alphas = torch.zeros(m_max, dtype=torch.float64)
    betas = torch.zeros(m_max, dtype=torch.float64)  # betas[j] couples vectors j and j + 1

    def fresh(j: int) -> torch.Tensor | None:
        for _ in range(3):
            q = torch.randn(dim, generator=gen, dtype=torch.float64)
            for _ in range(2):  # twice is enough (Kahan's "twice is enough")
                q -= Q[:j].T @ (Q[:j] @ q)
            n = float(torch.linalg.vector_norm(q))
            if n > 1e-8:
                return q / n
        return None

    q = None if v0 is None else v0.to(torch.float64).cpu().reshape(-1).clone()
    norm = 0.0 if q is None else float(torch.linalg.vector_norm(q))
    q = q / norm if math.isfinite(norm) and norm > 0 else fresh(0)
    converged = False
    for j in range(m_max):
        if progress is not None:
            progress(j, m_max)
        if j == len(Q):
            Q = torch.cat([Q, torch.zeros(min(len(Q), m_max - len(Q)), dim, dtype=Q.dtype)])
        Q[j] = q
        z = matvec(q)
        if not bool(torch.isfinite(z).all()):
            raise ValueError(
                "a Hessian-vector product was not finite: the cost is not twice "
                "differentiable there, or overflows"
            )
        alphas[j] = float(q @ z)
        # Full reorthogonalisation against the whole basis (twice) replaces the three-term
        # recurrence's own subtraction and keeps Q orthonormal to working precision.
        for _ in range(2):
            z -= Q[: j + 1].T @ (Q[: j + 1] @ z)
        beta = float(torch.linalg.vector_norm(z))
        m = j + 1
        T = torch.diag(alphas[:m]) + torch.diag(betas[: m - 1], 1) + torch.diag(betas[: m - 1], -1)
        theta, S = torch.linalg.eigh(T)
        top = torch.arange(m - 1, max(-1, m - 1 - k), -1)
        scale = max(float(theta.abs().max()), 1e-300)
        residuals = (beta * S[-1, top].abs()).numpy()
        if len(top) == k and bool(np.all(residuals <= tol * scale)):
            converged = True
            break
        if m == m_max:
            converged = m == dim  # a complete basis: T is H itself, exactly
            break
        if beta <= 1e-12 * scale:
            nxt = fresh(m)
            if nxt is None:
                converged = True
                break
            betas[j] = 0.0  # T splits into independent blocks
            q = nxt
        else:
            betas[j] = beta
            q = z / beta
    values = theta[top].numpy()
    vector = Q[:m].T @ S[:, top[0]]
    if len(values) < k:  # fewer iterations than wanted values (only when dim < k)
        values = np.pad(values, (0, k - len(values)), constant_values=np.nan)
    return _Lanczos(values, residuals, vector, m, converged)


def _prepare(f, at, k, tol, max_iter, seed, progress=None):
    f = objective(f)
    w = f.point(at, name="at")
    tol = _checks.positive_float("tol", tol)
    if tol >= 1:
        _checks.fail("tol", tol, "must be below 1 (a relative residual, e.g. 1e-6)")
    max_iter = _checks.int_in_range("max_iter", max_iter, 1, MAX_ITER)
    # The default k=3 must work on a 1-D or 2-D cost: ask for more than dim, get all of them.
    k = min(_checks.int_in_range("k", k, 1, MAX_ITER), f.dim)
    seed = _checks.int_in_range("seed", seed, 0, 2**63 - 1)
    if progress is not None and not callable(progress):
        _checks.fail("progress", progress, "expected a callable progress(done, total)", TypeError)
    return f, w, k, tol, max_iter, seed


def _top(f, w, k, *, tol, max_iter, batch, seed, v0=None, progress=None) -> _Lanczos:
    gen = torch.Generator().manual_seed(seed)
    result = _lanczos(
        _hvp(f, w, batch), f.dim, k, tol=tol, max_iter=max_iter, gen=gen, v0=v0, progress=progress
    )
    if not result.converged:
        worst = float(np.max(result.residuals / max(np.abs(result.values).max(), 1e-300)))
        warnings.warn(
            f"Lanczos stopped after max_iter={max_iter} iterations with relative residual "
            f"{worst:.2g} > tol={tol:g}; raise max_iter for more accurate eigenvalues",
            RuntimeWarning,
            stacklevel=3,
        )
    return result


def hessian_eigenvalues(
    f,
    at=None,
    k: int = 3,
    *,
    tol: float = 1e-6,
    max_iter: int = 100,
    batch=None,
    seed: int = 0,
    progress: Progress | None = None,
) -> np.ndarray:
    """The ``k`` largest (algebraic) eigenvalues of the Hessian of ``f`` at ``at``, descending.

    Computed by Lanczos with full reorthogonalisation on Hessian-vector products (see the
    module notes); the Hessian itself is never formed. Iteration stops when every wanted Ritz
    pair ``(theta, y)`` has residual ``|H y - theta y| <= tol * |H|`` (``|H|`` estimated by
    the largest Ritz value in magnitude): each ``theta`` is then within that residual of an
    eigenvalue of ``H``, and usually far closer (the error is of order residual^2 / gap).

    Args:
        f: an objective, or anything :func:`lrlab.objective` accepts.
        at: the point (``dim`` numbers); None uses the objective's start.
        k: how many eigenvalues (at least 1); an objective with fewer than ``k`` parameters
            gives all of its ``dim``.
        tol: relative residual at which a Ritz value counts as converged, in (0, 1).
        max_iter: the most Lanczos iterations (Hessian-vector products); at most ``dim`` are
            ever needed. Each iteration keeps one float64 basis vector of ``dim`` numbers.
            When it runs out first, a ``RuntimeWarning`` says how far it got.
        batch: one batch of :meth:`~lrlab.objectives.Objective.batches` for the curvature of
            that mini-batch's cost; None (default) uses the full data.
        seed: seeds the random start vector, so results are reproducible.
        progress: called as ``progress(done, max_iter)`` before each Lanczos iteration; an
            exception it raises stops the computation and propagates (a deadline, a cancel).

    Returns:
        A float64 numpy array of the ``min(k, dim)`` largest eigenvalues, largest first.

    Raises:
        ValueError: a bad ``k``, ``tol``, ``max_iter`` or point, or a cost that is not finite
            or not twice differentiable there.

    Example:
        >>> hessian_eigenvalues("bowl:kappa=100", k=2).round(6).tolist()
        [100.0, 1.0]
    """
    f, w, k, tol, max_iter, seed = _prepare(f, at, k, tol, max_iter, seed, progress)
    return _top(
        f, w, k, tol=tol, max_iter=max_iter, batch=batch, seed=seed, progress=progress
    ).values


def sharpness(
    f,
    at=None,
    *,
    tol: float = 1e-6,
    max_iter: int = 100,
    batch=None,
    seed: int = 0,
    progress: Progress | None = None,
) -> float:
    """The sharpness: the largest algebraic eigenvalue of the Hessian of ``f`` at ``at``.

    ``S = lambda_max(d^2 C / dw^2)``. On a quadratic, gradient descent with learning rate
    ``alpha`` converges iff ``alpha < 2 / S``; ``1 / S`` is the classic safe choice. The
    largest *algebraic* eigenvalue is returned (negative at a maximum), because negative
    curvature never limits the learning rate. Lanczos on Hessian-vector products, stopping at
    relative residual ``tol`` (see :func:`hessian_eigenvalues`).

    Args:
        f: an objective, or anything :func:`lrlab.objective` accepts.
        at: the point (``dim`` numbers); None uses the objective's start.
        tol: relative residual of the top Ritz pair at which Lanczos stops, in (0, 1).
        max_iter: the most Lanczos iterations; a ``RuntimeWarning`` says when they ran out.
        batch: one mini-batch to measure on; None (default) uses the full data.
        seed: seeds the random start vector.
        progress: called as ``progress(done, max_iter)`` before each Lanczos iteration; an
            exception it raises stops the computation and propagates (a deadline, a cancel).

    Returns:
        The top Hessian eigenvalue, a float.

    Example:
        >>> sharpness("x**2 + 10*y**2")
        20.0
        >>> round(sharpness("rosenbrock", at=[1.0, 1.0]), 4)
        1001.6006

    References:
        Lanczos (1950); Cohen et al., "Gradient descent on neural networks typically occurs at
        the edge of stability", ICLR 2021.
    """
    f, w, _, tol, max_iter, seed = _prepare(f, at, 1, tol, max_iter, seed, progress)
    top = _top(f, w, 1, tol=tol, max_iter=max_iter, batch=batch, seed=seed, progress=progress)
    return float(top.values[0])
