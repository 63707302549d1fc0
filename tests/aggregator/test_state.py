"""The aggregator's state file (aggregator/state.py): typed rounds, a version, the old layout."""

from __future__ import annotations

import json

import pytest

from aggregator.exceptions import AggregatorError
from aggregator.state import STATE_VERSION, AggregatorState, SavedRound, load_state, save_state
from market.types import RoundPublication

TRAINER = "0x" + "ab" * 20


def _saved(**kw) -> SavedRound:
    return SavedRound(model_cid="bafymodel", transcript_cid="bafytranscript", flags=[False, True],
                      rejections=[True, False], scores=[0, 0], aggregate_commitment=12345, proof=b"\x01\x02",
                      evidence={TRAINER: b"\xaa" * 32}, **kw)


def test_state_saves_a_version_and_reads_back_the_same_records(tmp_path):
    # Prepare
    path = tmp_path / "state.json"
    state = AggregatorState(rounds={0: _saved(published=True), 1: _saved()})

    # Execute
    save_state(path, state)
    raw = json.loads(path.read_text())
    loaded = load_state(path)

    # Assert: JSON with hex bytes; the same typed records back
    assert raw["version"] == STATE_VERSION and set(raw["rounds"]) == {"0", "1"}
    assert raw["rounds"]["0"]["proof"] == "0102" and raw["rounds"]["0"]["evidence"] == {TRAINER: "aa" * 32}
    assert loaded == state


def test_state_loads_the_unversioned_layout(tmp_path):
    # Prepare: what aggregators wrote before the version field
    path = tmp_path / "state.json"
    old = {"rounds": {"0": {"model_cid": "bafymodel", "transcript_cid": "bafytranscript", "flags": [False, True],
                            "rejections": [True, False], "scores": [0, 0], "aggregate_commitment": 12345,
                            "proof": "0102", "evidence": {TRAINER: "aa" * 32}, "published": False}}}
    path.write_text(json.dumps(old))

    # Execute
    loaded = load_state(path)

    # Assert
    assert loaded.version == STATE_VERSION
    assert loaded.rounds == {0: _saved()}


def test_state_missing_file_is_empty_and_a_newer_version_is_refused(tmp_path):
    assert load_state(tmp_path / "none.json") == AggregatorState()
    newer = tmp_path / "state.json"
    newer.write_text(json.dumps({"version": STATE_VERSION + 1, "rounds": {}}))
    with pytest.raises(AggregatorError, match="newer"):
        load_state(newer)


def test_saved_round_publication_is_what_publish_round_sends():
    assert _saved().publication() == RoundPublication(
        global_model_cid="bafymodel", flags=[False, True], rejections=[True, False], scores=[0, 0],
        aggregate_commitment=12345, proof=b"\x01\x02", transcript_cid="bafytranscript")
