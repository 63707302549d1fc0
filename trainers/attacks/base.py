"""The attack base class, its context record and the parameter checks the attacks share."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from trainers.data import Dataset
from trainers.exceptions import AttackSpecError

__all__ = ["Attack", "AttackContext", "Update", "check_fraction", "check_positive", "chosen_indices"]

Update = dict[str, np.ndarray]
"""A model update: parameter name → array."""


@dataclass(frozen=True)
class AttackContext:
    """What an update-level attack may use besides the honest update (every field optional; an
    attack that needs a missing one raises :class:`~trainers.attacks.omniscient.AttackContextError`)."""

    global_state: Mapping[str, np.ndarray] | None = None
    """The round's global model."""
    previous_global: Mapping[str, np.ndarray] | None = None
    """An earlier round's global model (for stale free-riders)."""
    previous_delta: Mapping[str, np.ndarray] | None = None
    """This trainer's update of an earlier round (for stale free-riders)."""
    honest_updates: tuple[Mapping[str, np.ndarray], ...] | None = None
    """The round's honest updates, same names and shapes as the delta (for omniscient attacks)."""
    reference: Mapping[str, np.ndarray] | None = None
    """The round's root-of-trust reference update: the owner's local step on its root set (for
    attacks written against the reference-anchored rule)."""
    leader_update: Mapping[str, np.ndarray] | None = None
    """The update a sybil group copies."""
    accepts: Callable[[Mapping[str, np.ndarray]], bool] | None = None
    """The detector in use, as an oracle: True when it would accept the update (for Fang's
    detector-aware search)."""


@dataclass(frozen=True)
class Attack:
    """Base: ``name``, ``level`` (data/update), ``kind`` (malicious/unreliable), ``main`` (the
    parameter a group's ``name=value`` sets) and ``choices`` for string parameters."""

    name: ClassVar[str] = ""
    level: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    main: ClassVar[str | None] = None
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}
    skips_training: ClassVar[bool] = False
    """True when the attacker does not train at all (a free-rider)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in self.choices and value not in self.choices[f.name]:
                raise AttackSpecError(f"{self.name}: {f.name}={value!r} is not one of {list(self.choices[f.name])}")
        self.check()

    def check(self) -> None:
        """Range checks of the parameters (raise :class:`AttackSpecError`)."""

    def params(self) -> dict[str, Any]:
        """The attack's parameters, name → value."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}:{params}" if params else self.name

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        """The attacked data set (data-level attacks; the base returns it as it is)."""
        return dataset

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        """The attacked update (update-level attacks; the base returns it as it is)."""
        return delta


def check_positive(attack: Attack, name: str, *, allow_zero: bool = False) -> None:
    """Raise :class:`AttackSpecError` unless ``attack.<name>`` is finite and > 0 (>= 0 with ``allow_zero``)."""
    value = getattr(attack, name)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise AttackSpecError(f"{attack.name}: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def check_fraction(attack: Attack, name: str) -> None:
    """Raise :class:`AttackSpecError` unless ``attack.<name>`` is in [0, 1]."""
    value = getattr(attack, name)
    if not 0.0 <= value <= 1.0:
        raise AttackSpecError(f"{attack.name}: {name} must be in [0, 1], got {value}")


def chosen_indices(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction·n)`` distinct sample indices."""
    return rng.choice(n, size=int(round(fraction * n)), replace=False)
