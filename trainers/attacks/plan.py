"""The attack registry and :class:`AttackPlan`: parsing a plan string and applying its attacks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainers.attacks.backdoor import BackdoorTrigger
from trainers.attacks.base import Attack, AttackContext, Update
from trainers.attacks.data import Blur, LabelFlip, LowResolution, NoisyLabels
from trainers.attacks.omniscient import (
    Adaptive,
    Alie,
    Fang,
    InnerProductManipulation,
    Mimic,
    MinMax,
    MinSum,
    Sybil,
)
from trainers.attacks.updates import FreeRider, GaussianNoise, Scaling, SignFlip
from trainers.data import Dataset
from trainers.exceptions import AttackSpecError

__all__ = ["ATTACKS", "GROUPS", "AttackPlan"]

ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (
    LabelFlip, NoisyLabels, Blur, LowResolution, BackdoorTrigger, SignFlip, GaussianNoise, Scaling, FreeRider,
    Alie, InnerProductManipulation, MinMax, MinSum, Mimic, Fang, Sybil, Adaptive)}
"""Attack name → class."""

GROUPS = ("malicious", "unreliable")
"""The group names a plan may use (``"unreliable:blur=1"``): each admits the attacks of that kind."""


def _convert(attack: type[Attack], key: str, text: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(attack)}
    if key not in fields:
        raise AttackSpecError(f"{attack.name} has no parameter {key!r}; it takes {sorted(fields) or 'none'}")
    kind = type(fields[key].default)
    try:
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError
            return value
    except ValueError:
        raise AttackSpecError(f"{attack.name}: {key}={text!r} is not a{'n integer' if kind is int else ' number'}") from None
    return text


def _make(name: str, params: Mapping[str, str]) -> Attack:
    cls = ATTACKS.get(name)
    if cls is None:
        raise AttackSpecError(f"unknown attack {name!r}; known: {', '.join(sorted(ATTACKS))} "
                              f"(or a group: {', '.join(GROUPS)})")
    return cls(**{k: _convert(cls, k, v) for k, v in params.items()})


def _pairs(text: str, where: str) -> list[tuple[str, str | None]]:
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise AttackSpecError(f"{where}: empty parameter in {text!r}")
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not key or (sep and not value):
            raise AttackSpecError(f"{where}: {item!r} is not key=value")
        out.append((key, value if sep else None))
    return out


@dataclass(frozen=True)
class AttackPlan:
    """The attacks one simulated trainer runs (data ones before training, update ones after)."""

    attacks: tuple[Attack, ...] = ()
    seed: int = 0
    group: str | None = field(default=None, compare=False)

    @classmethod
    def parse(cls, text: str | None, *, seed: int = 0) -> AttackPlan:
        """Parse ``"sign_flip"``, ``"gaussian_noise:sigma=0.5"``, ``"label_flip+scaling:factor=5"``,
        ``"unreliable:noisy_labels=0.5,blur=1"``; ``None``, ``""``, ``"none"`` → no attack."""
        text = (text or "").strip()
        if text.lower() in ("", "none"):
            return cls((), seed)
        attacks: list[Attack] = []
        group = None
        for part in text.split("+"):
            name, _, rest = part.strip().partition(":")
            name = name.strip().lower()
            if not name:
                raise AttackSpecError(f"attack plan {text!r}: empty attack name")
            if name in GROUPS:
                group = name
                if not rest.strip():
                    raise AttackSpecError(f"{name}: name its attacks, e.g. {name}:"
                                          + ",".join(f"{n}" for n, c in ATTACKS.items() if c.kind == name))
                for key, value in _pairs(rest, name):
                    cls_ = ATTACKS.get(key)
                    if cls_ is None:
                        raise AttackSpecError(f"{name}: unknown attack {key!r}; known: {', '.join(sorted(ATTACKS))}")
                    if cls_.kind != name:
                        raise AttackSpecError(f"{name}: {key} is a {cls_.kind} attack, not {name}")
                    attacks.append(_make(key, {cls_.main: value} if value is not None and cls_.main else {}))
            else:
                params = {}
                if rest.strip():
                    for key, value in _pairs(rest, name):
                        if value is None:
                            raise AttackSpecError(f"{name}: {key!r} needs a value ({key}=…)")
                        params[key] = value
                attacks.append(_make(name, params))
        names = [a.name for a in attacks]
        if len(set(names)) != len(names):
            raise AttackSpecError(f"attack plan {text!r} names an attack twice")
        if sum(a.skips_training for a in attacks) and any(a.level == "data" for a in attacks):
            raise AttackSpecError("free_rider does not train, so data attacks beside it do nothing")
        order = {"data": 0, "update": 1}
        return cls(tuple(sorted(attacks, key=lambda a: order[a.level])), seed, group)

    def __str__(self) -> str:
        return "+".join(str(a) for a in self.attacks) or "none"

    def __bool__(self) -> bool:
        return bool(self.attacks)

    @property
    def skips_training(self) -> bool:
        """True when the plan's trainer does not train (a free-rider)."""
        return any(a.skips_training for a in self.attacks)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(sorted({a.kind for a in self.attacks}))

    def describe(self) -> list[dict[str, Any]]:
        """JSON-ready ``[{name, level, kind, params}]``."""
        return [{"name": a.name, "level": a.level, "kind": a.kind, "params": a.params()} for a in self.attacks]

    def _rng(self, index: int, round_: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, round_, index])

    def apply_data(self, dataset: Dataset, *, num_classes: int, round_: int = 0) -> Dataset:
        """The data-level attacks applied in order (a new data set; the input is untouched)."""
        for i, attack in enumerate(self.attacks):
            if attack.level == "data":
                dataset = attack.apply_data(dataset, num_classes=num_classes, rng=self._rng(i, round_))
        return dataset

    def apply_update(self, delta: Mapping[str, np.ndarray], context: AttackContext | None = None, *,
                     round_: int = 0) -> Update:
        """The update-level attacks applied in order (new arrays; the input is untouched)."""
        out = {k: np.array(v, copy=True) for k, v in delta.items()}
        context = context or AttackContext()
        for i, attack in enumerate(self.attacks):
            if attack.level == "update":
                out = attack.apply_update(out, context, self._rng(i, round_))
        return out
