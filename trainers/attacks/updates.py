"""Update-level attacks: they change the update after training (or replace training).

``sign_flip``, ``gaussian_noise``, ``scaling`` and ``free_rider``, all malicious; see
:mod:`trainers.attacks` for the table of parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trainers.attacks.base import Attack, AttackContext, Update, check_positive
from trainers.exceptions import AttackSpecError

__all__ = ["FreeRider", "GaussianNoise", "Scaling", "SignFlip"]


@dataclass(frozen=True)
class SignFlip(Attack):
    """Malicious: ``Δ → −scale·Δ``."""

    name: ClassVar[str] = "sign_flip"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "scale"
    scale: float = 1.0

    def check(self) -> None:
        check_positive(self, "scale")

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        return {k: (-self.scale * v.astype(np.float64)).astype(v.dtype) for k, v in delta.items()}


@dataclass(frozen=True)
class GaussianNoise(Attack):
    """Malicious: the update replaced by (or, ``mode=add``, added to) i.i.d. ``N(0, sigma²)``."""

    name: ClassVar[str] = "gaussian_noise"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "sigma"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("replace", "add")}
    sigma: float = 0.1
    mode: str = "replace"

    def check(self) -> None:
        check_positive(self, "sigma", allow_zero=True)

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        out = {}
        for k in sorted(delta):
            v = delta[k]
            noise = rng.normal(0.0, self.sigma, size=v.shape)
            out[k] = (noise if self.mode == "replace" else v.astype(np.float64) + noise).astype(v.dtype)
        return {k: out[k] for k in delta}


@dataclass(frozen=True)
class Scaling(Attack):
    """Malicious: a boosted update ``Δ → factor·Δ`` (model replacement)."""

    name: ClassVar[str] = "scaling"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "factor"
    factor: float = 10.0

    def check(self) -> None:
        if not math.isfinite(self.factor):
            raise AttackSpecError(f"{self.name}: factor must be finite, got {self.factor}")

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        return {k: (self.factor * v.astype(np.float64)).astype(v.dtype) for k, v in delta.items()}


@dataclass(frozen=True)
class FreeRider(Attack):
    """Malicious: submits without training: zeros (the global model back), or a stale update."""

    name: ClassVar[str] = "free_rider"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "mode"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("zeros", "stale")}
    skips_training: ClassVar[bool] = True
    mode: str = "zeros"

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        if self.mode == "stale":
            if context.previous_delta is not None:
                return {k: np.asarray(context.previous_delta[k]).astype(v.dtype).copy() for k, v in delta.items()}
            if context.previous_global is not None and context.global_state is not None:
                return {k: (np.asarray(context.previous_global[k], np.float64)
                            - np.asarray(context.global_state[k], np.float64)).astype(v.dtype) for k, v in delta.items()}
        return {k: np.zeros_like(v) for k, v in delta.items()}
