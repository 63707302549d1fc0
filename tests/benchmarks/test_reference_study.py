"""The reference study (benchmarks/reference_study.py) in a one-round slice: its tables have their
columns, the reference rule flags sign-flippers and withholds the sybil copy's pay (the group
earns one submission's pay), where the old median rule pays the copies. Not a timed test (a few seconds)."""

from __future__ import annotations

from benchmarks.common import set_torch_threads
from benchmarks.reference_study import VARIANTS, run


def test_reference_study_slice_tables_and_headline_numbers(tmp_path):
    # Execute (one torch thread, as the benchmark scripts run: several times faster for this MLP)
    threads = set_torch_threads(None)
    set_torch_threads(1)
    try:
        section = run(quick=True, out=tmp_path, rounds=1, partition="iid", only="clean,sign_flip,sybils")
    finally:
        set_torch_threads(threads)
    # Assert
    names = [s["name"] for s in section.data["scenarios"]]
    assert names == ["clean", "sign_flip 45%", "sybils k = 2"]
    main = section.table("Reference rule vs median rule")
    assert main.columns[:3] == ["scenario", "partition", "accuracy (reference)"]
    assert len(main.rows) == 3
    variants = section.table("Variants")
    assert variants.column("variant") == ["median", *VARIANTS]
    clean, sign_flip, sybils = section.data["scenarios"]
    assert 0.0 <= clean["accuracy"] <= 1.0
    assert sign_flip["rules"]["default"]["attackers_share"] == 0.0
    assert sign_flip["reasons"].get("MISALIGNED", 0) >= 4
    # the copy, submitted after slot 0, is flagged DUPLICATE; slot 0 earns what it earns alone
    assert sybils["rules"]["default"]["inflation"] == 1.0
    assert sybils["rules"]["median"]["inflation"] > 1.5
