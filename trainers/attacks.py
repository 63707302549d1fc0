"""Attack simulators: misbehaving trainers for experiments and tests. Never on by default.

Each attack is a small frozen dataclass in :data:`ATTACKS`, acting either on the local data
before training (``level = "data"``) or on the update after it (``level = "update"``), and
labelled by intent:

==================  =======  ===========  ===================================================
name                level    kind         what it does (parameters, defaults)
==================  =======  ===========  ===================================================
``label_flip``      data     malicious    ``y → C−1−y`` (``mode=reverse``) or a random
                                          derangement of the classes (``mode=permutation``),
                                          on a ``fraction`` of samples (1.0)
``noisy_labels``    data     unreliable   ``p`` (0.5) of the samples get a random *other* label
``blur``            data     unreliable   Gaussian blur of the image, ``sigma`` pixels (1.0)
``low_resolution``  data     unreliable   ``factor``×``factor`` block averages (2)
``sign_flip``       update   malicious    ``Δ → −scale·Δ`` (``scale`` 1.0)
``gaussian_noise``  update   malicious    ``Δ → N(0, σ²)`` (``mode=replace``) or
                                          ``Δ + N(0, σ²)`` (``mode=add``); ``sigma`` (0.1)
``scaling``         update   malicious    boosted update ``Δ → factor·Δ`` (``factor`` 10)
``free_rider``      update   malicious    no training: zeros (``mode=zeros``), or a stale
                                          update (``mode=stale``: the previous round's Δ, else
                                          previous global − current global, else zeros)
==================  =======  ===========  ===================================================

*Malicious* trainers try to poison the model or be paid for nothing; *unreliable* ones mean
well but have bad data. (MUD-HoG, arXiv 2208.10273, tells these apart.)

An :class:`AttackPlan` is parsed from a string:

- ``"sign_flip"``, ``"gaussian_noise:sigma=0.5,mode=add"``: one attack and its parameters;
- ``"label_flip+scaling:factor=5"``: several, joined by ``+``;
- ``"unreliable:noisy_labels=0.5,blur=1.0"`` / ``"malicious:sign_flip"``: a group, each
  ``name=value`` setting the attack's main parameter (a bare name takes its defaults); the
  group checks every member is of its kind.
- ``""`` or ``"none"``: no attack.

Randomness comes from the plan's ``seed`` and the round, so a run is reproducible.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from trainers.data import Dataset
from trainers.exceptions import AttackSpecError

__all__ = ["ATTACKS", "Attack", "AttackContext", "AttackPlan", "Blur", "FreeRider", "GaussianNoise", "LabelFlip",
           "LowResolution", "NoisyLabels", "Scaling", "SignFlip"]

Update = dict[str, np.ndarray]


@dataclass(frozen=True)
class AttackContext:
    """What an update-level attack may use besides the honest update."""

    global_state: Mapping[str, np.ndarray] | None = None
    """The round's global model."""
    previous_global: Mapping[str, np.ndarray] | None = None
    """An earlier round's global model (for stale free-riders)."""
    previous_delta: Mapping[str, np.ndarray] | None = None
    """This trainer's update of an earlier round (for stale free-riders)."""


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
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def __str__(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.params().items())
        return f"{self.name}:{params}" if params else self.name

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        return dataset

    def apply_update(self, delta: Update, context: AttackContext, rng: np.random.Generator) -> Update:
        return delta


def _positive(attack: Attack, name: str, *, allow_zero: bool = False) -> None:
    value = getattr(attack, name)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise AttackSpecError(f"{attack.name}: {name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _fraction(attack: Attack, name: str) -> None:
    value = getattr(attack, name)
    if not 0.0 <= value <= 1.0:
        raise AttackSpecError(f"{attack.name}: {name} must be in [0, 1], got {value}")


def _chosen(n: int, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """``round(fraction·n)`` distinct sample indices."""
    return rng.choice(n, size=int(round(fraction * n)), replace=False)


# --- data level --------------------------------------------------------------------------
@dataclass(frozen=True)
class LabelFlip(Attack):
    """Malicious: relabel ``fraction`` of the samples, ``y → C−1−y`` or by a derangement."""

    name: ClassVar[str] = "label_flip"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "fraction"
    choices: ClassVar[dict[str, tuple[str, ...]]] = {"mode": ("reverse", "permutation")}
    mode: str = "reverse"
    fraction: float = 1.0

    def check(self) -> None:
        _fraction(self, "fraction")

    def mapping(self, num_classes: int, rng: np.random.Generator) -> np.ndarray:
        """``mapping[c]`` = the label class ``c`` becomes (never ``c`` itself when C ≥ 2)."""
        if self.mode == "reverse":
            return np.arange(num_classes - 1, -1, -1, dtype=np.int64)
        shift = rng.permutation(num_classes)  # a cyclic shift over a random order: no fixed point
        out = np.empty(num_classes, dtype=np.int64)
        out[shift] = np.roll(shift, -1)
        return out

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        mapping = self.mapping(num_classes, rng)
        y = dataset.y.copy()
        idx = _chosen(len(y), self.fraction, rng)
        y[idx] = mapping[y[idx]]
        return dataset.replace(y=y)


@dataclass(frozen=True)
class NoisyLabels(Attack):
    """Unreliable: ``p`` of the samples get a uniformly random label among the other classes."""

    name: ClassVar[str] = "noisy_labels"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "p"
    p: float = 0.5

    def check(self) -> None:
        _fraction(self, "p")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        y = dataset.y.copy()
        idx = _chosen(len(y), self.p, rng)
        offset = rng.integers(1, num_classes, size=len(idx))  # 1..C-1: never the same label
        y[idx] = (y[idx] + offset) % num_classes
        return dataset.replace(y=y)


def _image_view(X: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``X`` as ``(n, C, H, W)``: (C,H,W) and (H,W) samples as they are, flat samples of a
    square size as one channel."""
    shape = X.shape[1:]
    if len(shape) == 3:
        return X, shape
    if len(shape) == 2:
        return X[:, None], shape
    size = math.prod(shape)
    side = math.isqrt(size)
    if side * side != size:
        raise AttackSpecError(f"image attacks need image-like samples; got sample shape {list(shape)}")
    return X.reshape(len(X), 1, side, side), shape


@dataclass(frozen=True)
class Blur(Attack):
    """Unreliable: Gaussian blur over height and width (``sigma`` in pixels)."""

    name: ClassVar[str] = "blur"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "sigma"
    sigma: float = 1.0

    def check(self) -> None:
        _positive(self, "sigma")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        from scipy.ndimage import gaussian_filter

        images, shape = _image_view(dataset.X)
        blurred = gaussian_filter(images.astype(np.float64), sigma=(0, 0, self.sigma, self.sigma), mode="nearest")
        return dataset.replace(X=blurred.astype(np.float32).reshape((len(dataset), *shape)))


@dataclass(frozen=True)
class LowResolution(Attack):
    """Unreliable: each ``factor``×``factor`` block replaced by its mean (edges padded)."""

    name: ClassVar[str] = "low_resolution"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "unreliable"
    main: ClassVar[str | None] = "factor"
    factor: int = 2

    def check(self) -> None:
        if self.factor < 1:
            raise AttackSpecError(f"{self.name}: factor must be an integer >= 1, got {self.factor}")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        images, shape = _image_view(dataset.X)
        f = self.factor
        n, c, h, w = images.shape
        ph, pw = -h % f, -w % f
        padded = np.pad(images, ((0, 0), (0, 0), (0, ph), (0, pw)), mode="edge")
        blocks = padded.reshape(n, c, (h + ph) // f, f, (w + pw) // f, f).mean(axis=(3, 5))
        up = np.repeat(np.repeat(blocks, f, axis=2), f, axis=3)[:, :, :h, :w]
        return dataset.replace(X=up.astype(np.float32).reshape((n, *shape)))


# --- update level ------------------------------------------------------------------------
@dataclass(frozen=True)
class SignFlip(Attack):
    """Malicious: ``Δ → −scale·Δ``."""

    name: ClassVar[str] = "sign_flip"
    level: ClassVar[str] = "update"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "scale"
    scale: float = 1.0

    def check(self) -> None:
        _positive(self, "scale")

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
        _positive(self, "sigma", allow_zero=True)

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


ATTACKS: dict[str, type[Attack]] = {cls.name: cls for cls in (
    LabelFlip, NoisyLabels, Blur, LowResolution, SignFlip, GaussianNoise, Scaling, FreeRider)}
"""Attack name → class."""

GROUPS = ("malicious", "unreliable")


# --- plans -------------------------------------------------------------------------------
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
