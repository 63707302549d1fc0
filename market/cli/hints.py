"""How to fix a contract's revert with this CLI: the flag or command to use, added to the core's
message when the ``market`` command prints the error.

The core (:mod:`market.reverts`) says what is wrong, for any caller; only the CLI knows its own
flags (``--reward``, ``--stake``…) and commands, so the hints live here, keyed by the Solidity
error's name and formatted with its decoded arguments.
"""

from __future__ import annotations

from market.exceptions import ContractRevert, MarketError

__all__ = ["HINTS", "cli_message"]

HINTS: dict[str, str] = {
    "MarketplaceZeroReward": "pass --reward with a positive amount",
    "MarketplaceInvalidAggregator": "pass --aggregator ADDRESS",
    "MarketplaceInvalidJoinDeadline": "give a later deadline (--join-window)",
    "MarketplaceInvalidVerifier": "deploy it first, or pass --verifier none for trusted-aggregator mode",
    "MarketplaceUnknownTask": "`market task list` shows the tasks",
    "MarketplaceWrongStake": "join with --stake {required}wei",
    "MarketplaceNotTrainer": "`market trainer join {taskId}` first",
    "MarketplaceSubmissionsNotClosed": "`market aggregator close {taskId}` after the deadline",
}
"""Solidity error name → what to do, a ``str.format`` template over the error's arguments."""


def cli_message(exc: MarketError) -> str:
    """The line the CLI prints for ``exc``: its message, then the hint for a revert that has one."""
    if isinstance(exc, ContractRevert) and exc.name in HINTS:
        return f"{exc}: {HINTS[exc.name].format(**exc.args_by_name)}"
    return str(exc)
