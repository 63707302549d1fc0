"""The aggregator node: intake of the trainers' encrypted updates, outlier detection,
contribution scoring, streaming FedAvg, round publication, the service loop and the audit.

One algorithm a module behind thin classes: :mod:`aggregator.intake` (digest, decryption,
package and sketch checks, each failure a rejection with a reason) and
:mod:`aggregator.round_intake` (a round's submissions fetched in parallel, progress saved),
:mod:`aggregator.detectors`
(the provable rule, Multi-Krum, MUD-HoG), :mod:`aggregator.scoring` (the paid provable score;
exact, truncated Monte Carlo and GTG Shapley and leave-one-out, reported only),
:mod:`aggregator.aggregation` (sample-weighted FedAvg), :mod:`aggregator.round_pipeline` (one
round from verdicts to publication values), :mod:`aggregator.reference` (the root-of-trust
rule's per-round reference update: digest, sketch, files), :mod:`aggregator.service` and
:mod:`aggregator.state` (the node and its state file), :mod:`aggregator.evidence_reveal` (the
rejections' evidence keys, revealed resumably), :mod:`aggregator.audit` (``market
audit``); the ``market aggregator`` and ``market audit`` commands are in :mod:`aggregator.cli`.

Layer: beside ``trainers``, above ``zk`` and the market core (docs/DESIGN.md). No module here
imports ``trainers``, ``benchmarks`` or torch, except :mod:`aggregator.evaluation` (validation
utility of a model and the reference on the root set, torch and the trainers' recipe), which the rest never imports; the
audit runs without torch. Nothing is imported here: import the submodules you use.
"""

__all__ = [
    "aggregation",
    "audit",
    "cli",
    "detectors",
    "evaluation",
    "evidence_reveal",
    "exceptions",
    "intake",
    "reference",
    "round_intake",
    "round_pipeline",
    "scoring",
    "service",
    "state",
    "transcripts",
]
