"""What a trainer checks before it joins a task, and what ``task show`` says about a task's
verifier: the contract already refuses an unapproved verifier and a key the aggregator did not
register at ``createTask``; these checks say so in words before any stake moves, and catch a
verifier whose code no longer has the approved hash."""

from __future__ import annotations

from web3 import Web3

from market.exceptions import MarketValueError
from market.marketplace import Marketplace
from market.types import TaskInfo

__all__ = ["check_before_join", "verifier_standing"]


def verifier_standing(market: Marketplace, task: TaskInfo) -> str:
    """One line: trusted mode, or the verifier's registry entry (approved, slots, code hash)."""
    verifier = task.config.verifier
    if task.trusted_aggregator:
        return "no verifier: trusted-aggregator mode, scores are recorded without a proof"
    info = market.verifier_info(verifier)
    if not info.approved:
        return f"verifier {verifier} is NOT approved by the registrar {market.registrar()}"
    code = bytes(Web3.keccak(market.web3.eth.get_code(Web3.to_checksum_address(verifier))))
    same = "code unchanged" if code == info.code_hash else "CODE CHANGED since approval"
    return (f"verifier {verifier} approved by the registrar {market.registrar()}: {info.slots} slots, "
            f"code hash 0x{info.code_hash.hex()[:16]}… ({same})")


def check_before_join(market: Marketplace, task: TaskInfo, account: str) -> list[str]:
    """Raise :class:`MarketValueError` when joining would be refused or unsafe (a verifier not
    approved or whose code changed, an aggregator key that is not the registered one, not on
    the task's allowlist); return warnings to show (trusted mode)."""
    warnings = []
    standing = verifier_standing(market, task)
    if task.trusted_aggregator:
        warnings.append(standing)
    elif "NOT approved" in standing or "CODE CHANGED" in standing:
        raise MarketValueError(f"task {task.task_id}: {standing}; its proofs prove nothing")
    registered = market.aggregator_key_of(task.config.aggregator)
    if registered != task.config.aggregator_key:
        warnings.append(f"the aggregator {task.config.aggregator} has since registered another key; the task keeps "
                        f"0x{task.config.aggregator_key.hex()}, which updates are encrypted to")
    if not market.is_allowed(task.task_id, account):
        raise MarketValueError(f"task {task.task_id} admits only accounts its owner allowed; {account} is not one")
    return warnings
