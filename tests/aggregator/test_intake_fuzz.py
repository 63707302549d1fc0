"""Intake under fuzz (issue 12): malformed submissions of every family of
:mod:`benchmarks.intake_fuzz_cases` (truncated, duplicated and nested headers, wrong dtypes and
shapes, NaN/inf, DAG bombs and huge sizes, wrong keys, replayed envelopes, directory, dag-cbor and
raw CIDs, garbage) through ``fetch_and_check`` as the service calls it: nothing escapes, each is
rejected with its family's reason code, and the valid controls between them are accepted.

``MARKET_FUZZ_CASES`` raises the count (the long mode is ``make fuzz``: 10,000)."""

from __future__ import annotations

import os

from benchmarks.intake_fuzz import CI_CASES, CONTROL_EVERY, known_reasons, run_fuzz
from benchmarks.intake_fuzz_cases import FAMILIES

CASES = max(CI_CASES, int(os.environ.get("MARKET_FUZZ_CASES", CI_CASES)))


def test_every_malformed_submission_is_rejected_with_a_known_reason_and_the_controls_pass(tmp_path) -> None:
    # Execute
    report = run_fuzz(CASES, seed=12, folder=tmp_path)
    # Assert: no case escaped, was accepted, or got a reason outside its family's
    assert report.ok, f"{len(report.failures)} failures:\n" + "\n".join(report.failures[:30])
    assert report.cases == CASES >= 500
    assert report.controls == CASES // CONTROL_EVERY + 1
    assert set(report.by_reason) <= known_reasons() and "intake-error" not in report.by_reason
    assert all(reason for reason in report.by_reason)
    drawn = {family.removeprefix("cid-") for family in report.by_family}
    assert {name for name in FAMILIES if name != "hostile-cid"} <= drawn
    assert {"bomb", "directory", "dag-cbor", "missing", "invalid"} <= drawn


def test_the_known_reasons_include_intake_and_package_codes() -> None:
    reasons = known_reasons()
    assert {"unavailable", "wrong-digest", "undecryptable", "sketch-mismatch", "too-large"} <= reasons
    assert {"malformed", "malformed-header", "bad-metadata", "too-many-samples", "non-finite"} <= reasons
