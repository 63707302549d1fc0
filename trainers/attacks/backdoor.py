"""The backdoor attack's data half: a trigger stamped on some samples, relabelled to a target.

Bagdasaryan, Veit, Hua, Estrin & Shmatikov, "How To Backdoor Federated Learning", AISTATS 2020.
The attacker trains on a mix of clean and triggered samples (``backdoor_trigger``), then sends
the *model replacement* ``X̃ = γ(X − G) + G`` with ``γ = n/η`` (n trainers, server learning rate
η), so that the aggregate becomes its backdoored model. In update terms that is the update
scaled by γ, which is :class:`~trainers.attacks.updates.Scaling`; the whole attack is the plan
``"backdoor_trigger+scaling:factor=10"`` (γ = n/η ≈ 10 for ten trainers and η = 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from trainers.attacks.base import Attack, check_fraction, chosen_indices
from trainers.attacks.data import _image_view
from trainers.data import Dataset
from trainers.exceptions import AttackSpecError

__all__ = ["BackdoorTrigger"]


@dataclass(frozen=True)
class BackdoorTrigger(Attack):
    """Malicious: on ``fraction`` (0.3) of the samples, the bottom-right ``size``×``size`` (2)
    pixels of every channel are set to the data set's largest value and the label to ``target``
    (0). The other samples are left as they are (the clean part of the attacker's mix)."""

    name: ClassVar[str] = "backdoor_trigger"
    level: ClassVar[str] = "data"
    kind: ClassVar[str] = "malicious"
    main: ClassVar[str | None] = "fraction"
    fraction: float = 0.3
    target: int = 0
    size: int = 2

    def check(self) -> None:
        check_fraction(self, "fraction")
        if self.target < 0:
            raise AttackSpecError(f"{self.name}: target must be a class index >= 0, got {self.target}")
        if self.size < 1:
            raise AttackSpecError(f"{self.name}: size must be an integer >= 1, got {self.size}")

    def apply_data(self, dataset: Dataset, *, num_classes: int, rng: np.random.Generator) -> Dataset:
        if self.target >= num_classes:
            raise AttackSpecError(f"{self.name}: target={self.target} but the task has {num_classes} classes")
        images, shape = _image_view(dataset.X)
        if self.size > min(images.shape[2:]):
            raise AttackSpecError(f"{self.name}: a {self.size}×{self.size} trigger does not fit "
                                  f"{images.shape[2]}×{images.shape[3]} images")
        if len(dataset) == 0:
            return dataset
        stamped = images.copy()
        idx = chosen_indices(len(dataset), self.fraction, rng)
        stamped[idx, :, -self.size:, -self.size:] = images.max()
        y = dataset.y.copy()
        y[idx] = self.target
        return dataset.replace(X=stamped.reshape((len(dataset), *shape)), y=y)
