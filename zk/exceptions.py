"""Exceptions of the ``zk`` package.

They hang under the project's one root, :class:`market.exceptions.MarketError`, so the
``market`` CLI turns them into a one-line message like every other error; the value errors
also inherit :class:`ValueError`, the missing tools :class:`FileNotFoundError`.
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError, ToolMissingError

__all__ = [
    "CircuitShapeError",
    "FieldRangeError",
    "KeyMissingError",
    "ProverError",
    "RuleInputError",
    "SketchInputError",
    "TooManySlotsError",
    "TranscriptError",
    "UnsatisfiableWitnessError",
    "VerifierBuildError",
    "WitnessInputError",
    "ZkError",
    "ZkToolMissingError",
]


class ZkError(MarketError):
    """Root of every error the ``zk`` package raises on purpose."""

    exit_code = 7


class FieldRangeError(ZkError, MarketValueError):
    """A value lies outside the range it must have: not a BN254 field element, or a signed
    integer too large to be represented (or range-checked) in the circuit."""


class SketchInputError(ZkError, MarketValueError):
    """An update cannot be sketched: empty, non-numeric, not finite, or too large."""


class CircuitShapeError(ZkError, MarketValueError):
    """A round circuit size (N slots, sketch length K) the circuit cannot be built for."""


class ZkToolMissingError(ZkError, ToolMissingError):
    """A tool the proof system needs is not installed (``groth16py``; node and the npm solc
    to compile a verifier for a key other than the committed one)."""


class KeyMissingError(ZkError, FileNotFoundError):
    """No proving key where one was asked for (a cache that must not be filled, a ``.zkey``
    that is not there)."""


class VerifierBuildError(ZkError):
    """The Solidity verifier could not be generated or compiled."""


class ProverError(ZkError):
    """Proving a round failed."""


class TooManySlotsError(ProverError, MarketValueError):
    """The round has more trainer slots than the circuit (N) holds."""


class WitnessInputError(ProverError, MarketValueError):
    """The prover's inputs are inconsistent or incomplete: an accepted slot without its
    sketch or salt, a sketch that does not open the stored commitment, an outcome whose
    published values are not the provable rule's (another detector), a value out of range."""


class UnsatisfiableWitnessError(ProverError):
    """The circuit's constraints fail for this witness: the claimed flags, scores, median,
    median distance or aggregate do not follow the rule from these sketches. No proof exists."""


class RuleInputError(ZkError, MarketValueError):
    """An input of the paid rule (:mod:`zk.protocol.rule`) is not acceptable: slot counts that
    differ, a sketch value that is not an integer or out of range, τ out of range."""


class TranscriptError(ZkError, MarketValueError):
    """Bytes are not a round transcript this code reads: too large, not JSON, another format or
    version, or a field that is missing or of the wrong type."""
