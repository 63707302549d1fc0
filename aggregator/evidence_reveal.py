"""Reveal the evidence keys of a published round's rejections, resumably.

After ``publishRound`` the aggregator puts on chain, with ``revealEvidenceKey``, the envelope key
of every submission the round rejected, so that ``market audit`` can decrypt it and check the
rejection. A rejection slashes (a strike) on the aggregator's word alone, so a key that is never
revealed is a rejection nothing on chain backs: the reveals are persisted one by one in the
round's :class:`~aggregator.state.SavedRound` (``reveals``) and a restarted node finishes them
before anything else (:meth:`aggregator.service.AggregatorNode.step`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from eth_account.signers.local import LocalAccount

from aggregator.state import SavedRound
from market.exceptions import ContractRevert
from market.failpoints import round_failpoint
from market.marketplace import Marketplace

__all__ = ["ON_CHAIN", "reveal_evidence_keys"]

ON_CHAIN = "on chain"
"""The outcome saved for a key found already revealed on chain (sent before a restart)."""


def reveal_evidence_keys(market: Marketplace, account: LocalAccount, task_id: int, round_: int, saved: SavedRound, *,
                         record: Callable[[SavedRound], None], log: Callable[[str], None]) -> SavedRound:
    """Reveal every key of ``saved.unrevealed``; after each, ``record`` the round with its
    outcome (the transaction hash, :data:`ON_CHAIN` for a key the chain already holds, or
    ``"refused: <error>"`` for a revert, which is final and logged). A transport error
    (:class:`~market.exceptions.ChainError`) propagates: what was recorded stays, the rest is
    revealed on the next call. Returns the round as last recorded."""
    if not saved.unrevealed:
        return saved
    on_chain = market.round_keys("EvidenceKeyRevealed", task_id, round_)
    for trainer in saved.unrevealed:
        key = saved.evidence[trainer]
        if on_chain.get(trainer) == key:
            outcome = ON_CHAIN
        else:
            try:
                outcome = market.reveal_evidence_key(account, task_id, round_, trainer, key).tx_hash
            except ContractRevert as exc:
                outcome = f"refused: {exc.name}"
                log(f"round {round_}: evidence key for {trainer} not revealed: {exc}")
        saved = replace(saved, reveals={**saved.reveals, trainer: outcome})
        record(saved)
        round_failpoint("aggregator.revealed", round_)
    return saved
