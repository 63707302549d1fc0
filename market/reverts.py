"""Turn the Marketplace's custom errors into :class:`~market.exceptions.ContractRevert` with a
one-line message that says what is wrong.

The messages name no command-line flag or command: how to fix a revert with the ``market``
CLI is the CLI's to say (``market.cli.hints`` adds it when the CLI prints the error).
"""

from __future__ import annotations

from collections.abc import Callable

from eth_abi import decode
from eth_utils import keccak, to_checksum_address

from market.exceptions import ContractRevert
from market.types import TaskState
from market.units import ether, when

__all__ = ["RevertDecoder"]


def _state(v: int) -> str:
    return TaskState(v).label()


_MESSAGES: dict[str, Callable[[dict], str]] = {
    "MarketplaceZeroReward": lambda a: "a task needs a reward",
    "MarketplaceInvalidAggregator": lambda a: "the aggregator address is zero",
    "MarketplaceInvalidRounds": lambda a: f"rounds must be between 1 and {a['maxRounds']}, got {a['rounds']}",
    "MarketplaceInvalidTrainerBounds": lambda a: (
        f"need 1 <= min trainers ({a['minTrainers']}) <= max trainers ({a['maxTrainers']}) <= {a['limit']}"),
    "MarketplaceInvalidJoinDeadline": lambda a: (
        f"the join deadline {when(a['joinDeadline'])} must be after the chain's time {when(a['nowTimestamp'])} "
        "and at most 365 days later"),
    "MarketplaceWindowTooLong": lambda a: (
        f"a window of {a['window']}s is longer than the limit of {a['maxWindow']}s (30 days)"),
    "MarketplaceAggregatorKeyNotRegistered": lambda a: (
        f"the aggregator key 0x{bytes(a['key']).hex()} is not the key {a['aggregator']} registered "
        f"({'none' if not any(a['registered']) else '0x' + bytes(a['registered']).hex()})"),
    "MarketplaceInvalidAggregatorKey": lambda a: "an aggregator key of zero cannot be registered",
    "MarketplaceVerifierNotApproved": lambda a: (
        f"the verifier {a['verifier']} is not approved by the Marketplace's registrar (or its code changed)"),
    "MarketplaceVerifierTooSmall": lambda a: (
        f"the verifier {a['verifier']} has {a['slots']} trainer slots, fewer than max trainers ({a['maxTrainers']})"),
    "MarketplaceVerifierAlreadyApproved": lambda a: f"the verifier {a['verifier']} is already approved",
    "MarketplaceNotAllowed": lambda a: f"task {a['taskId']} admits only allowed accounts; {a['account']} is not one",
    "MarketplaceCloseTooEarly": lambda a: (
        f"round {a['round']} of task {a['taskId']} cannot be closed in block {a['lastSubmissionBlock']}, "
        "the block of its last submission: close in a later block"),
    "MarketplaceInvalidWindows": lambda a: (
        f"submission window ({a['submissionWindow']}s), sketch window ({a['sketchWindow']}s) and publish grace "
        f"({a['publishGrace']}s) must all be positive"),
    "MarketplaceInvalidCid": lambda a: f"a CID must be 1 to {a['maxLength']} bytes long, got {a['length']}",
    "MarketplaceInvalidVerifier": lambda a: (
        f"the verifier {a['verifier']} is not a contract, or does not say how many slots it has"),
    "MarketplaceInvalidStrikeLimit": lambda a: "strikes to slash must be at least 1",
    "MarketplaceUnknownTask": lambda a: f"there is no task {a['taskId']}",
    "MarketplaceWrongState": lambda a: (
        f"task {a['taskId']} is {_state(a['state'])}, this needs it {_state(a['required'])}"),
    "MarketplaceUnauthorized": lambda a: f"{a['caller']} is not allowed to do this on task {a['taskId']}",
    "MarketplaceJoinClosed": lambda a: f"joining task {a['taskId']} closed at {when(a['joinDeadline'])}",
    "MarketplaceTaskFull": lambda a: f"task {a['taskId']} already has its maximum of {a['maxTrainers']} trainers",
    "MarketplaceAlreadyJoined": lambda a: f"{a['trainer']} already joined task {a['taskId']}",
    "MarketplaceConflictOfInterest": lambda a: (
        f"{a['account']} is the owner or the aggregator of task {a['taskId']} and cannot train for it"),
    "MarketplaceWrongStake": lambda a: (
        f"task {a['taskId']} takes a stake of exactly {ether(a['required'])} ({a['required']} wei); "
        f"{ether(a['sent'])} was sent"),
    "MarketplaceNotEnoughTrainers": lambda a: (
        f"task {a['taskId']} has {a['joined']} trainers and needs {a['required']} to start"),
    "MarketplaceCannotCancel": lambda a: (
        f"task {a['taskId']} can be cancelled by its owner, or by anyone after {when(a['joinDeadline'])} "
        f"while fewer than {a['minTrainers']} trainers joined ({a['joined']} did)"),
    "MarketplaceNotTrainer": lambda a: f"{a['account']} has not joined task {a['taskId']}",
    "MarketplaceWrongRound": lambda a: (
        f"task {a['taskId']} is in round {a['currentRound']}, not round {a['round']}"),
    "MarketplaceSubmissionClosed": lambda a: (
        f"submissions for task {a['taskId']} round {a['round']} are closed (deadline {when(a['deadline'])}): "
        "this update is late; submit in the next round"),
    "MarketplaceAlreadySubmitted": lambda a: (
        f"{a['trainer']} already submitted an update for task {a['taskId']} round {a['round']}"),
    "MarketplaceInvalidDigest": lambda a: "the update digest is zero: pass the keccak256 of the stored bytes",
    "MarketplaceDuplicateDigest": lambda a: (
        f"{a['submittedBy']} already submitted the digest 0x{a['digest'].hex()} in task {a['taskId']} "
        f"round {a['round']}: a copied envelope is refused; encrypt the update afresh for a digest of its own"),
    "MarketplaceSubmissionsStillOpen": lambda a: (
        f"submissions for task {a['taskId']} round {a['round']} stay open until {when(a['deadline'])} "
        "unless every trainer submitted"),
    "MarketplaceSubmissionsAlreadyClosed": lambda a: (
        f"submissions for task {a['taskId']} round {a['round']} are already closed"),
    "MarketplaceSubmissionsNotClosed": lambda a: (
        f"submissions for task {a['taskId']} round {a['round']} are not closed yet"),
    "MarketplaceNoSubmission": lambda a: (
        f"{a['trainer']} made no submission in task {a['taskId']} round {a['round']}, so it has no sketch to commit"),
    "MarketplaceSketchWindowClosed": lambda a: (
        f"the sketch window of task {a['taskId']} round {a['round']} closed at {when(a['deadline'])}: "
        "the submission will count as rejected"),
    "MarketplaceSketchAlreadyCommitted": lambda a: (
        f"{a['trainer']} already committed its sketch for task {a['taskId']} round {a['round']}"),
    "MarketplaceInvalidFieldElement": lambda a: (
        f"{a['value']} is not a nonzero BN254 field element (a commitment must be 0 < c < p)"),
    "MarketplaceSketchWindowOpen": lambda a: (
        f"sketches for task {a['taskId']} round {a['round']} may come in until {when(a['deadline'])}: "
        "publish after that, or once every submitter committed"),
    "MarketplacePublishDeadlinePassed": lambda a: (
        f"the publish deadline of task {a['taskId']} round {a['round']} passed at {when(a['deadline'])}: "
        "the task can only be aborted now"),
    "MarketplaceWrongScoreCount": lambda a: f"one score per trainer is needed: got {a['given']}, expected {a['expected']}",
    "MarketplaceInvalidMarks": lambda a: (
        f"flags {a['flags']:#x} / rejections {a['rejections']:#x} mark a trainer that did not submit in "
        f"task {a['taskId']} round {a['round']}"),
    "MarketplaceMissingRejection": lambda a: (
        f"{a['trainer']} submitted but committed no sketch in task {a['taskId']} round {a['round']}: "
        "it must be marked rejected"),
    "MarketplaceScoreNotAllowed": lambda a: (
        f"{a['trainer']} cannot score {a['score']} in task {a['taskId']} round {a['round']}: "
        "it did not submit, or it is flagged or rejected"),
    "MarketplaceScoreTooLarge": lambda a: f"score {a['score']} exceeds the maximum {a['maxScore']}",
    "MarketplaceProofRejected": lambda a: (
        f"the verifier rejected the proof for task {a['taskId']} round {a['round']}: the posted flags, rejections "
        "or scores do not follow from the committed sketches"),
    "MarketplaceRoundsRemaining": lambda a: (
        f"task {a['taskId']} has published {a['publishedRounds']} of {a['rounds']} rounds"),
    "MarketplacePublishDeadlineNotPassed": lambda a: (
        f"task {a['taskId']} round {a['round']} may still be published until {when(a['deadline'])}: abort after that"),
    "MarketplaceRoundNotPublished": lambda a: f"task {a['taskId']} round {a['round']} is not published",
    "MarketplaceNotRejected": lambda a: (
        f"{a['trainer']} was not rejected in task {a['taskId']} round {a['round']}: no evidence key to reveal or rejection to contest"),
    "MarketplaceContestWindowOpen": lambda a: (
        f"task {a['taskId']} can be finalized after {a['until']} (unix time): rejected trainers may still contest"),
    "MarketplaceAlreadyContested": lambda a: (
        f"{a['trainer']} already contested its rejection in task {a['taskId']} round {a['round']}"),
    "MarketplaceNothingToWithdraw": lambda a: f"{a['account']} has nothing to withdraw",
    "MarketplaceReferenceNotUsed": lambda a: (
        f"task {a['taskId']}'s verifier takes no reference: there is no reference to commit"),
    "MarketplaceReferenceMissing": lambda a: (
        f"task {a['taskId']} round {a['round']} has no committed reference yet: the aggregator fixes it (its "
        "digest before submissions, its sketch before publication); wait for it"),
    "MarketplaceReferenceAlreadyCommitted": lambda a: (
        f"task {a['taskId']} round {a['round']}'s reference is already committed: it is fixed once"),
    "MarketplaceTransferFailed": lambda a: (
        f"sending {ether(a['amount'])} to {a['account']} failed; the credit is kept: withdraw from an account "
        "that accepts ether"),
}


class RevertDecoder:
    """Decodes revert data of the custom errors in an ABI."""

    def __init__(self, abi: list[dict]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") != "error":
                continue
            types = [_abi_type(i) for i in entry["inputs"]]
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            self._errors[selector] = (entry["name"], [i["name"] for i in entry["inputs"]], types)

    @property
    def error_names(self) -> list[str]:
        return sorted(name for name, _, _ in self._errors.values())

    def decode(self, data: bytes | str | None) -> ContractRevert | None:
        """A :class:`ContractRevert` for known error data, else ``None``."""
        if data is None:
            return None
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x"))
        if len(data) < 4 or data[:4] not in self._errors:
            return None
        name, names, types = self._errors[data[:4]]
        values = decode(types, data[4:]) if types else ()
        args = {n: (to_checksum_address(v) if t == "address" else v) for n, t, v in zip(names, types, values)}
        render = _MESSAGES.get(name)
        message = render(args) if render else f"{name}({', '.join(f'{k}={v}' for k, v in args.items())})"
        return ContractRevert(name, args, message)


def _abi_type(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + kind[len("tuple"):]
    return kind
