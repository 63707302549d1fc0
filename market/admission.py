"""What a trainer checks before it joins a task, and what ``task show`` says about a task's
verifier: the contract already refuses an unapproved verifier and a key the aggregator did not
register at ``createTask``; these checks say so in words before any stake moves, and catch a
verifier whose code no longer has the approved hash."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from web3 import Web3

from market.exceptions import MarketValueError
from market.marketplace import Marketplace
from market.types import TaskInfo

__all__ = ["Standing", "VerifierStanding", "check_before_join", "verifier_standing"]


class Standing(Enum):
    """Whether a task's proofs mean anything."""

    TRUSTED = "trusted"
    """No verifier: scores are recorded on the aggregator's word."""
    APPROVED = "approved"
    """Approved by the registrar and its code is the code approved."""
    NOT_APPROVED = "not approved"
    """The registrar never approved it."""
    CODE_CHANGED = "code changed"
    """Approved, but the code at the address is not the code approved."""

    @property
    def unsafe(self) -> bool:
        """A proof checked by this verifier proves nothing: refuse to join."""
        return self in (Standing.NOT_APPROVED, Standing.CODE_CHANGED)


@dataclass(frozen=True)
class VerifierStanding:
    """A task's verifier as the registry and the chain show it."""

    standing: Standing
    text: str
    """One line for people (``task show``, the join refusal)."""

    def __str__(self) -> str:
        return self.text


def verifier_standing(market: Marketplace, task: TaskInfo) -> VerifierStanding:
    """Trusted mode, or the verifier's registry entry (approved, slots, code hash) and whether
    its code is still the code approved."""
    verifier = task.config.verifier
    if task.trusted_aggregator:
        return VerifierStanding(Standing.TRUSTED,
                                "no verifier: trusted-aggregator mode, scores are recorded without a proof")
    info = market.verifier_info(verifier)
    if not info.approved:
        return VerifierStanding(Standing.NOT_APPROVED,
                                f"verifier {verifier} is NOT approved by the registrar {market.registrar()}")
    code = bytes(Web3.keccak(market.web3.eth.get_code(Web3.to_checksum_address(verifier))))
    standing = Standing.APPROVED if code == info.code_hash else Standing.CODE_CHANGED
    same = "code unchanged" if standing is Standing.APPROVED else "CODE CHANGED since approval"
    return VerifierStanding(standing, f"verifier {verifier} approved by the registrar {market.registrar()}: "
                                      f"{info.slots} slots, code hash 0x{info.code_hash.hex()[:16]}… ({same})")


def check_before_join(market: Marketplace, task: TaskInfo, account: str) -> list[str]:
    """Raise :class:`MarketValueError` when joining would be refused or unsafe (a verifier not
    approved or whose code changed, an aggregator key that is not the registered one, not on
    the task's allowlist); return warnings to show (trusted mode)."""
    warnings = []
    verifier = verifier_standing(market, task)
    if verifier.standing is Standing.TRUSTED:
        warnings.append(verifier.text)
    elif verifier.standing.unsafe:
        raise MarketValueError(f"task {task.task_id}: {verifier.text}; its proofs prove nothing")
    registered = market.aggregator_key_of(task.config.aggregator)
    if registered != task.config.aggregator_key:
        warnings.append(f"the aggregator {task.config.aggregator} has since registered another key; the task keeps "
                        f"0x{task.config.aggregator_key.hex()}, which updates are encrypted to")
    if not market.is_allowed(task.task_id, account):
        raise MarketValueError(f"task {task.task_id} admits only accounts its owner allowed; {account} is not one")
    return warnings
