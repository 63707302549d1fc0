"""The round transcript: one typed record, the same stored bytes, bounded parsing."""

from __future__ import annotations

import json

import pytest

from zk.protocol.transcript import (
    TRANSCRIPT_FORMAT,
    TRANSCRIPT_VERSION,
    RoundTranscript,
    SubmissionRow,
    TranscriptError,
)

FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495616  # p - 1


def _row(slot: int, **changes) -> SubmissionRow:
    values = dict(slot=slot, trainer=f"0x{slot:040x}", submitted=True, cid=f"bafy{slot}", digest="0x" + "ab" * 32,
                  commitment=FIELD, verdict="accepted", detail="", num_samples=150, sketch=[-3, 0, FIELD],
                  salt=2**255 + slot, evidence_key=None, label="ok")
    return SubmissionRow(**{**values, **changes})


def _transcript(**changes) -> RoundTranscript:
    rows = [_row(0), _row(1, verdict="sketch-mismatch", sketch=None, salt=None, evidence_key="cd" * 32,
                          label="rejected"),
            _row(2, submitted=False, cid=None, digest=None, commitment=0, verdict="absent", num_samples=0,
                 sketch=None, salt=None, label="absent")]
    values = dict(task_id=3, round=1, seed=2**256 - 1, detector="provable", tau=(4, 1), k=3,
                  previous_model_cid=None, global_model_cid="bafymodel", submissions=rows, median=[-3, 0, FIELD],
                  distances=[0, 0, 0], median_distance=0, flags=[False, False, False],
                  rejections=[False, True, False], scores=[12, 0, 0], aggregate=[-3, 0, FIELD],
                  aggregate_commitment=FIELD - 1, validation_shapley={"gtg": [0.25, 0.0, 0.0]},
                  accuracy_before=0.5, accuracy_after=0.75, proof_seconds=None, proof=None,
                  verifier={"n": 16, "k": 32}, streamed=False)
    return RoundTranscript(**{**values, **changes})


def test_transcript_stores_sorted_json_with_big_integers_as_strings() -> None:
    # Execute
    data = _transcript().to_json()
    # Assert: the stored layout (keys sorted, indent 1, format and version, decimal strings)
    document = json.loads(data)
    assert data == json.dumps(document, sort_keys=True, indent=1).encode()
    assert (document["format"], document["version"]) == (TRANSCRIPT_FORMAT, TRANSCRIPT_VERSION)
    assert document["seed"] == str(2**256 - 1) and document["tau"] == [4, 1]
    assert document["submissions"][0]["sketch"] == ["-3", "0", str(FIELD)]
    assert document["submissions"][1]["sketch"] is None and document["submissions"][0]["salt"] == str(2**255)


def test_transcript_parses_back_to_the_same_record_and_bytes() -> None:
    transcript = _transcript()
    again = RoundTranscript.from_json(transcript.to_json())
    assert again == transcript
    assert again.to_json() == transcript.to_json()
    assert again.submissions[0].sketch == [-3, 0, FIELD] and again.seed == 2**256 - 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: {**d, "format": "something-else"}, "not a round transcript"),
    (lambda d: {**d, "version": 2}, "version '2' is not supported"),
    (lambda d: {k: v for k, v in d.items() if k != "seed"}, "field seed"),
    (lambda d: {**d, "seed": 5}, "field seed"),  # a big integer must be a decimal string
    (lambda d: {**d, "seed": "0x10"}, "field seed"),
    (lambda d: {**d, "task_id": "3"}, "field task_id"),
    (lambda d: {**d, "extra": 1}, "field extra"),
    (lambda d: {**d, "submissions": [{**d["submissions"][0], "salt": "1" * 101}]}, "field submissions.0.salt"),
])  # fmt: skip
def test_transcript_refuses_other_formats_versions_and_fields(change, message) -> None:
    document = json.loads(_transcript().to_json())
    with pytest.raises(TranscriptError, match=message):
        RoundTranscript.from_json(json.dumps(change(document)).encode())


def test_transcript_refuses_oversized_and_non_json_bytes_before_parsing() -> None:
    data = _transcript().to_json()
    with pytest.raises(TranscriptError, match="above the"):
        RoundTranscript.from_json(data, max_bytes=len(data) - 1)
    with pytest.raises(TranscriptError, match="not JSON"):
        RoundTranscript.from_json(b"\x00not json")
    with pytest.raises(TranscriptError, match="not a JSON object"):
        RoundTranscript.from_json(b"[1, 2]")
