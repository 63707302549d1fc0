"""Omniscient update-level attacks: they see the round's honest updates, as their papers assume.

``alie``, ``ipm``, ``min_max``, ``min_sum``, ``mimic``, ``fang``, ``sybil`` and ``adaptive``, all
malicious; see :mod:`trainers.attacks` for the table of parameters. Conventions:

- The attacks work on one float64 vector: the arrays of the update in sorted-name order, each in C
  order (:func:`flatten`); the result goes back to the delta's names, shapes and dtypes
  (:func:`unflatten`).
- ``μ`` and ``σ`` are the coordinate-wise mean and sample standard deviation (``ddof=1``, as
  ``torch.std`` in the papers' code; 0 for a single update) of
  :attr:`~trainers.attacks.base.AttackContext.honest_updates`. The attacker's own trained delta
  gives only names, shapes and dtypes: its values are not used (the papers' attackers craft from
  the benign updates).
- An attack not given what it needs (the honest updates, the reference, the leader's update, the
  detector oracle), or given arrays of other names or shapes, raises :class:`AttackContextError`
  (an :class:`~trainers.exceptions.AttackSpecError`) naming the missing field. None falls back
  to the attacker's own delta: a simulation that forgets the context fails loudly.
- Randomness (Fang's sampling, sybil noise) comes from the plan's generator, so attackers sharing
  a plan seed send the same vector.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trainers.attacks.base import Attack, AttackContext, Update, check_positive
from trainers.exceptions import AttackSpecError

__all__ = ["Adaptive", "Alie", "AttackContextError", "Fang", "InnerProductManipulation", "Mimic", "MinMax", "MinSum",
           "Sybil", "flatten", "honest_matrix", "largest_fitting_gamma", "mean_std", "unflatten"]


class AttackContextError(AttackSpecError):
    """An attack needs a context field it was not given (honest updates, reference, leader update,
    detector oracle), or the field's arrays do not match the update's names and shapes."""


def flatten(update: Mapping[str, np.ndarray], keys: Sequence[str]) -> np.ndarray:
    """``update`` as one float64 vector: the arrays named by ``keys``, in that order, each in C order."""
    if not keys:
        return np.zeros(0)
    return np.concatenate([np.asarray(update[k], dtype=np.float64).ravel() for k in keys])


def unflatten(vector: np.ndarray, template: Mapping[str, np.ndarray]) -> Update:
    """Inverse of :func:`flatten` over ``sorted(template)``: ``template``'s shapes, dtypes and key order."""
    out, offset = {}, 0
    for k in sorted(template):
        v = np.asarray(template[k])
        out[k] = vector[offset:offset + v.size].reshape(v.shape).astype(v.dtype)
        offset += v.size
    return {k: out[k] for k in template}


def _vector(attack: Attack, what: str, update: Mapping[str, np.ndarray] | None, delta: Update) -> np.ndarray:
    if update is None:
        raise AttackContextError(f"{attack.name} needs {what} in its AttackContext")
    if set(update) != set(delta) or any(np.shape(update[k]) != np.shape(delta[k]) for k in delta):
        raise AttackContextError(f"{attack.name}: {what} does not have the update's parameter names and shapes")
    return flatten(update, sorted(delta))


def honest_matrix(attack: Attack, delta: Update, context: AttackContext) -> np.ndarray:
    """The round's honest updates as the rows of an ``(n, d)`` float64 matrix."""
    if not context.honest_updates:
        raise AttackContextError(f"{attack.name} is omniscient: it needs the round's honest updates "
                                 "(AttackContext.honest_updates)")
    return np.stack([_vector(attack, f"honest update {i}", u, delta) for i, u in enumerate(context.honest_updates)])


def mean_std(honest: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinate-wise mean and sample standard deviation (``ddof=1``; zeros for one row)."""
    return honest.mean(axis=0), honest.std(axis=0, ddof=1 if len(honest) > 1 else 0)


@dataclass(frozen=True)
class _Omniscient(Attack):
    """An update-level attack whose vector is a function of the honest updates (and the rng)."""

    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        return unflatten(self.craft(honest_matrix(self, delta, context), rng), delta)

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The malicious vector from the honest ones (rows of ``honest``)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Alie(_Omniscient):
    """Malicious, omniscient: ``μ − z·σ`` coordinate-wise. Baruch, Baruch & Goldberg, "A Little Is
    Enough: Circumventing Defenses For Distributed Learning", NeurIPS 2019.

    The paper takes the largest z that still leaves the attackers a majority: with n trainers of
    which m attack, ``s = ⌊n/2 + 1⌋ − m`` honest ones must be "won over" and
    ``z = Φ⁻¹((n − s)/n)`` (Φ the standard normal CDF). One simulated attacker knows neither n nor
    m, so z is a parameter (default 1.0)."""

    name: ClassVar[str] = "alie"
    main: ClassVar[str | None] = "z"
    z: float = 1.0

    def check(self) -> None:
        check_positive(self, "z", allow_zero=True)

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        mu, sigma = mean_std(honest)
        return mu - self.z * sigma


@dataclass(frozen=True)
class InnerProductManipulation(_Omniscient):
    """Malicious, omniscient: ``−ε·μ``, so the aggregate's inner product with the honest mean turns
    negative. Xie, Koyejo & Gupta, "Fall of Empires: Breaking Byzantine-tolerant SGD by Inner
    Product Manipulation", UAI 2019 (ε = 0.1 against Krum and large ε against the median)."""

    name: ClassVar[str] = "ipm"
    main: ClassVar[str | None] = "epsilon"
    epsilon: float = 0.5

    def check(self) -> None:
        check_positive(self, "epsilon")

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return -self.epsilon * honest.mean(axis=0)


def largest_fitting_gamma(fits: Callable[[float], bool], gamma_init: float, tol: float = 1e-5) -> float:
    """Algorithm 1 of Shejwalkar & Houmansadr: the largest γ ≥ 0 with ``fits(γ)``, by halving steps,
    written as a bracket ``[γ_succ, γ_fail]`` that closes to ``γ_fail − γ_succ ≤ tol·γ_fail``.

    ``fits`` must hold on an interval ``[0, γ*]`` (true of both objectives: convex in γ, fitting at
    0). The paper starts at ``γ_init`` and can reach at most ``2·γ_init``; here the bracket first
    doubles while γ still fits, so the answer is γ* for any scale of update."""
    succ, fail = 0.0, gamma_init
    for _ in range(1100):  # 2**1100 overflows a float: fits() never holds for every γ unless p = 0
        if not fits(fail):
            break
        succ, fail = fail, 2.0 * fail
    else:
        return succ
    for _ in range(2000):
        if fail - succ <= tol * fail:
            break
        mid = 0.5 * (succ + fail)
        succ, fail = (mid, fail) if fits(mid) else (succ, mid)
    return succ


@dataclass(frozen=True)
class MinMax(_Omniscient):
    """Malicious, omniscient, aggregation-agnostic: ``μ + γ·p`` with the largest γ whose largest
    distance to an honest update is at most the largest distance between two honest ones,
    ``max_i ‖u − g_i‖ ≤ max_{i,j} ‖g_i − g_j‖``. Shejwalkar & Houmansadr, "Manipulating the
    Byzantine: Optimizing Model Poisoning Attacks and Defenses for Federated Learning", NDSS 2021.

    ``perturbation``: ``std`` ``p = −σ/‖σ‖`` (default), ``unit_vec`` ``p = −μ/‖μ‖``, ``sign``
    ``p = −sign(μ)``; ``gamma_init`` (10) starts :func:`largest_fitting_gamma`. A zero ``p`` gives
    ``μ``."""

    name: ClassVar[str] = "min_max"
    main: ClassVar[str | None] = "perturbation"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"perturbation": ("std", "unit_vec", "sign")}
    objective: ClassVar[str] = "max"
    perturbation: str = "std"
    gamma_init: float = 10.0

    def check(self) -> None:
        check_positive(self, "gamma_init")

    def direction(self, honest: np.ndarray) -> np.ndarray:
        """The perturbation ``p``."""
        mu, sigma = mean_std(honest)
        if self.perturbation == "sign":
            return -np.sign(mu)
        p = sigma if self.perturbation == "std" else mu
        norm = float(np.linalg.norm(p))
        return -p / norm if norm > 0 else np.zeros_like(p)

    def gamma(self, honest: np.ndarray, p: np.ndarray) -> float:
        """The largest γ meeting the constraint, checked on squared distances from the centred Gram
        matrix: ``‖μ + γp − g_i‖² = ‖c_i‖² − 2γ⟨p, c_i⟩ + γ²‖p‖²`` with ``c_i = g_i − μ``."""
        c = float(p @ p)
        if c == 0:
            return 0.0
        centred = honest - honest.mean(axis=0)
        gram = centred @ centred.T
        sq = np.diag(gram).copy()
        pair = np.maximum(sq[:, None] + sq[None, :] - 2.0 * gram, 0.0)  # ‖g_i − g_j‖²
        lin = -2.0 * (centred @ p)
        if self.objective == "max":
            bound = float(pair.max())
            return largest_fitting_gamma(lambda g: float(np.max(sq + g * lin + g * g * c)) <= bound, self.gamma_init)
        bound = float(pair.sum(axis=1).max())
        return largest_fitting_gamma(lambda g: float(np.sum(sq + g * lin + g * g * c)) <= bound, self.gamma_init)

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = self.direction(honest)
        return honest.mean(axis=0) + self.gamma(honest, p) * p


@dataclass(frozen=True)
class MinSum(MinMax):
    """Malicious, omniscient: as :class:`MinMax`, with the constraint on the sum of squared
    distances, ``Σ_i ‖u − g_i‖² ≤ max_i Σ_j ‖g_i − g_j‖²`` (Shejwalkar & Houmansadr, NDSS 2021)."""

    name: ClassVar[str] = "min_sum"
    objective: ClassVar[str] = "sum"


@dataclass(frozen=True)
class Mimic(_Omniscient):
    """Malicious, omniscient: a copy of one honest update (``mode=copy``, the one at index
    ``target``), or ``μ − σ`` coordinate-wise (``mode=mean_minus_std``, the mimic measured in issue
    11: ALIE with z = 1). Karimireddy, He & Jaggi, "Byzantine-Robust Learning on Heterogeneous
    Datasets via Bucketing", ICLR 2022: their mimics all copy the honest trainer along the honest
    updates' top principal direction, over-weighting its data without being outliers; the index
    keeps the simulator simple."""

    name: ClassVar[str] = "mimic"
    main: ClassVar[str | None] = "mode"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("copy", "mean_minus_std")}
    mode: str = "copy"
    target: int = 0

    def check(self) -> None:
        if self.target < 0:
            raise AttackSpecError(f"{self.name}: target must be an index >= 0, got {self.target}")

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.mode == "mean_minus_std":
            mu, sigma = mean_std(honest)
            return mu - sigma
        if self.target >= len(honest):
            raise AttackContextError(f"{self.name}: target={self.target} but the context has {len(honest)} honest updates")
        return honest[self.target].copy()


@dataclass(frozen=True)
class Fang(_Omniscient):
    """Malicious, omniscient: Fang, Cao, Jia & Gong, "Local Model Poisoning Attacks to
    Byzantine-Robust Federated Learning", USENIX Security 2020, on updates as Shejwalkar &
    Houmansadr's code does.

    ``mode=trmean`` (full knowledge, against trimmed mean and median): with ``s_j`` the sign of
    the honest mean's coordinate j (the direction the aggregate would move), each coordinate is
    drawn uniformly from beyond the honest extreme on the other side: for ``s_j = +1`` from
    ``[w_min/b, w_min]`` (``w_min > 0``) or ``[b·w_min, w_min]`` (``w_min ≤ 0``); for ``s_j = −1``
    (and ``μ_j = 0``) from ``[w_max, b·w_max]`` (``w_max > 0``) or ``[w_max, w_max/b]``
    (``w_max ≤ 0``); ``b`` (2) > 1.

    ``mode=krum`` (against the detector in use, given as ``AttackContext.accepts``):
    ``μ − λ·sign(μ)`` with λ halved from ``lam`` (1.0) until the detector accepts it; below
    1e-5 the attacker sends ``μ``."""

    name: ClassVar[str] = "fang"
    main: ClassVar[str | None] = "mode"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("trmean", "krum")}
    min_lambda: ClassVar[float] = 1e-5
    mode: str = "trmean"
    b: float = 2.0
    lam: float = 1.0

    def check(self) -> None:
        check_positive(self, "lam")
        if not (math.isfinite(self.b) and self.b > 1):
            raise AttackSpecError(f"{self.name}: b must be > 1, got {self.b}")

    def craft(self, honest: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        w_max, w_min, b = honest.max(axis=0), honest.min(axis=0), self.b
        up_hi = np.where(w_max > 0, b * w_max, w_max / b)
        down_lo = np.where(w_min > 0, w_min / b, b * w_min)
        t = rng.random(honest.shape[1])
        up, down = w_max + t * (up_hi - w_max), down_lo + t * (w_min - down_lo)
        return np.where(honest.mean(axis=0) > 0, down, up)

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        honest = honest_matrix(self, delta, context)
        if self.mode == "trmean":
            return unflatten(self.craft(honest, rng), delta)
        if context.accepts is None:
            raise AttackContextError(f"{self.name}:mode=krum needs the detector's test (AttackContext.accepts)")
        mu = honest.mean(axis=0)
        lam = self.lam
        while lam >= self.min_lambda:
            candidate = unflatten(mu - lam * np.sign(mu), delta)
            if context.accepts(candidate):
                return candidate
            lam /= 2.0
        return unflatten(mu, delta)


@dataclass(frozen=True)
class Sybil(Attack):
    """Malicious: a member of a sybil group (k identities, one update): the group leader's update
    plus i.i.d. ``N(0, (noise·rms)²)`` per coordinate, rms over all the leader's coordinates.
    ``noise`` (0.0) gives an exact copy; the chain refuses the same digest twice a round, but the
    digest covers the encrypted envelope, so an exact copy re-encrypted still lands."""

    name: ClassVar[str] = "sybil"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "noise"
    noise: float = 0.0

    def check(self) -> None:
        check_positive(self, "noise", allow_zero=True)

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        leader = _vector(self, "the group leader's update (AttackContext.leader_update)", context.leader_update, delta)
        if self.noise > 0 and leader.size:
            rms = float(np.sqrt(np.mean(leader * leader)))
            leader = leader + rng.normal(0.0, self.noise * rms, size=leader.size)
        return unflatten(leader, delta)


@dataclass(frozen=True)
class Adaptive(_Omniscient):
    """Malicious, omniscient, written against the reference-anchored rule, which flags an update
    whose cosine with the reference ``r`` is below γ (0.05) or whose norm exceeds β‖r‖, and pays
    the Shapley value of ``U(S) = ⟨m_S, r⟩ − (h/2)‖m_S‖²``.

    Geometry: in the plane of ``r̂ = r/‖r‖`` and ``ê``, the unit vector along ``−μ⊥`` (``μ⊥`` the
    honest mean's component orthogonal to r),
    ``u = norm_ratio·‖r‖·(cos_margin·r̂ + √(1 − cos_margin²)·ê)``: its cosine with r is exactly
    ``cos_margin`` (0.10, just inside γ) and its norm ``norm_ratio``·‖r‖ (1.0, inside β), while its
    orthogonal part pushes against the honest direction as hard as the cone allows; its
    ``⟨u, r⟩ > 0`` still earns it pay. When ``μ⊥ = 0`` a random direction orthogonal to r is used.
    Needs ``AttackContext.reference`` and ``honest_updates``."""

    name: ClassVar[str] = "adaptive"
    main: ClassVar[str | None] = "cos_margin"
    cos_margin: float = 0.10
    norm_ratio: float = 1.0

    def check(self) -> None:
        check_positive(self, "norm_ratio")
        if not -1.0 <= self.cos_margin <= 1.0:
            raise AttackSpecError(f"{self.name}: cos_margin must be in [-1, 1], got {self.cos_margin}")

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        honest = honest_matrix(self, delta, context)
        r = _vector(self, "the round's reference update (AttackContext.reference)", context.reference, delta)
        r_norm = float(np.linalg.norm(r))
        if r_norm == 0:
            raise AttackContextError(f"{self.name}: the reference update is zero, so it has no direction")
        r_hat = r / r_norm
        away = -honest.mean(axis=0)
        tiny = 1e-12 * float(np.linalg.norm(away))
        for candidate in (away, rng.standard_normal(r.size)):
            for _ in range(2):  # Gram-Schmidt twice: orthogonal to r to rounding
                candidate = candidate - float(candidate @ r_hat) * r_hat
            if float(np.linalg.norm(candidate)) > tiny:
                break
        else:
            raise AttackContextError(f"{self.name}: no direction orthogonal to the reference (one coordinate)")
        e = candidate / float(np.linalg.norm(candidate))
        c = self.cos_margin
        return unflatten(self.norm_ratio * r_norm * (c * r_hat + math.sqrt(1.0 - c * c) * e), delta)
