"""Attack simulators: misbehaving trainers for experiments and tests. Never on by default.

Each attack is a small frozen dataclass in :data:`ATTACKS`, acting either on the local data
before training (``level = "data"``) or on the update after it (``level = "update"``), and
labelled by intent:

======================  =======  ===========  ===================================================
name                    level    kind         what it does (parameters, defaults)
======================  =======  ===========  ===================================================
``label_flip``          data     malicious    ``y → C−1−y`` (``mode=reverse``) or a random
                                              derangement of the classes (``mode=permutation``),
                                              on a ``fraction`` of samples (1.0)
``noisy_labels``        data     unreliable   ``p`` (0.5) of the samples get a random *other* label
``blur``                data     unreliable   Gaussian blur of the image, ``sigma`` pixels (1.0)
``low_resolution``      data     unreliable   ``factor``×``factor`` block averages (2)
``sign_flip``           update   malicious    ``Δ → −scale·Δ`` (``scale`` 1.0)
``gaussian_noise``      update   malicious    ``Δ → N(0, σ²)`` (``mode=replace``) or
                                              ``Δ + N(0, σ²)`` (``mode=add``); ``sigma`` (0.1)
``scaling``             update   malicious    boosted update ``Δ → factor·Δ`` (``factor`` 10)
``free_rider``          update   malicious    no training: zeros (``mode=zeros``), or a stale
                                              update (``mode=stale``: the previous round's Δ, else
                                              previous global − current global, else zeros)
``backdoor_trigger``    data     malicious    a ``size``×``size`` (2) max-value square in the
                                              bottom-right corner of a ``fraction`` (0.3) of the
                                              samples, relabelled ``target`` (0); with model
                                              replacement: ``backdoor_trigger+scaling:factor=10``
``alie``†               update   malicious    ``μ − z·σ`` coordinate-wise (``z`` 1.0)
``ipm``†                update   malicious    ``−ε·μ`` (``epsilon`` 0.5)
``min_max``†            update   malicious    ``μ + γ·p``, the largest γ with max distance to an
                                              honest update ≤ max honest pair distance;
                                              ``perturbation`` std (``−σ/‖σ‖``), unit_vec
                                              (``−μ/‖μ‖``) or sign (``−sign μ``); ``gamma_init`` 10
``min_sum``†            update   malicious    as ``min_max``, on sums of squared distances
``mimic``†              update   malicious    a copy of honest update ``target`` (0)
                                              (``mode=copy``), or ``μ − σ`` (``mode=mean_minus_std``)
``fang``†               update   malicious    ``mode=trmean``: each coordinate drawn beyond the
                                              honest extreme opposite the mean's sign, within a
                                              factor ``b`` (2); ``mode=krum``: ``μ − λ·sign μ``,
                                              λ halved from ``lam`` (1.0) until the detector
                                              (``AttackContext.accepts``) accepts it
``sybil``               update   malicious    the group leader's update (``leader_update``) +
                                              ``N(0, (noise·rms)²)`` (``noise`` 0.0: a copy)
``adaptive``†           update   malicious    against the reference-anchored rule: cosine
                                              ``cos_margin`` (0.10) with the reference, norm
                                              ``norm_ratio`` (1.0)·‖r‖, orthogonal part along −μ⊥
======================  =======  ===========  ===================================================

† *Omniscient*: crafted from the round's honest updates (``AttackContext.honest_updates``; μ and σ
their coordinate-wise mean and sample standard deviation), as the papers assume; ``adaptive``
also needs ``AttackContext.reference``. An attack missing what it needs raises
:class:`~trainers.attacks.omniscient.AttackContextError`.

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
each level), :mod:`~trainers.attacks.backdoor` (the backdoor trigger),
:mod:`~trainers.attacks.omniscient` (the attacks that see the honest updates, the sybil member and
the flattening helpers), :mod:`~trainers.attacks.plan` (:data:`ATTACKS`, :class:`AttackPlan`).
"""

from trainers.attacks.backdoor import BackdoorTrigger
from trainers.attacks.base import Attack, AttackContext
from trainers.attacks.data import Blur, LabelFlip, LowResolution, NoisyLabels
from trainers.attacks.omniscient import (
    Adaptive,
    Alie,
    AttackContextError,
    Fang,
    InnerProductManipulation,
    Mimic,
    MinMax,
    MinSum,
    Sybil,
)
from trainers.attacks.plan import ATTACKS, GROUPS, AttackPlan
from trainers.attacks.updates import FreeRider, GaussianNoise, Scaling, SignFlip

__all__ = ["ATTACKS", "GROUPS", "Adaptive", "Alie", "Attack", "AttackContext", "AttackContextError", "AttackPlan",
           "BackdoorTrigger", "Blur", "Fang", "FreeRider", "GaussianNoise", "InnerProductManipulation", "LabelFlip",
           "LowResolution", "Mimic", "MinMax", "MinSum", "NoisyLabels", "Scaling", "SignFlip", "Sybil"]
