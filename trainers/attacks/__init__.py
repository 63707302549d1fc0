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

Modules: :mod:`~trainers.attacks.base` (:class:`Attack`, :class:`AttackContext`, the shared
checks), :mod:`~trainers.attacks.data` and :mod:`~trainers.attacks.updates` (the attacks of
each level), :mod:`~trainers.attacks.plan` (:data:`ATTACKS`, :class:`AttackPlan`).
"""

from trainers.attacks.base import Attack, AttackContext
from trainers.attacks.data import Blur, LabelFlip, LowResolution, NoisyLabels
from trainers.attacks.plan import ATTACKS, GROUPS, AttackPlan
from trainers.attacks.updates import FreeRider, GaussianNoise, Scaling, SignFlip

__all__ = ["ATTACKS", "GROUPS", "Attack", "AttackContext", "AttackPlan", "Blur", "FreeRider", "GaussianNoise",
           "LabelFlip", "LowResolution", "NoisyLabels", "Scaling", "SignFlip"]
