"""Update packages that attack the loader (issue 12): JSON nested 400k deep in the header or in
a metadata field is refused without parsing (web3's dependencies raise the recursion limit to
100000, and the recursive parser then overflows the C stack); ``num_samples`` is capped."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from market.storage import compute_cid
from market.task_spec import LimitsSection, TaskSpec, TaskSpecError
from market.update_package import (
    MAX_HEADER_BYTES,
    MAX_NUM_SAMPLES,
    HeaderTooDeep,
    InvalidMetadata,
    PackageMalformed,
    TooManySamples,
    UpdateMetadata,
    build_update_package,
    json_nesting_depth,
    load_update_package,
    model_spec_hash,
)

SPEC = {"fc.weight": ((4, 3), "float32"), "fc.bias": ((4,), "float32")}
TRAINER = "0x" + "cd" * 20
DEEP = 400_000
"""The review's depth: 800 kB of brackets, under the 1 MiB header cap."""


def _metadata(**changes) -> UpdateMetadata:
    fields = dict(task_id=1, round=0, trainer=TRAINER, num_samples=50, salt=b"\x01" * 16,
                  model_spec_hash=model_spec_hash(SPEC), sketch=(1, 2), metrics={"loss": 0.5})
    fields.update(changes)
    return UpdateMetadata(**fields)


def _package(**changes) -> bytes:
    tensors = {name: np.zeros(shape, dtype) for name, (shape, dtype) in SPEC.items()}
    return build_update_package(tensors, _metadata(**changes))


def _with_header(package: bytes, header: bytes) -> bytes:
    """``package`` with its header bytes replaced (the tensor bytes kept)."""
    (size,) = struct.unpack_from("<Q", package)
    return struct.pack("<Q", len(header)) + header + package[8 + size :]


def _with_metadata_field(package: bytes, name: str, value: str) -> bytes:
    (size,) = struct.unpack_from("<Q", package)
    header = json.loads(package[8 : 8 + size])
    header["__metadata__"][name] = value
    return _with_header(package, json.dumps(header).encode())


def _load_in_a_process_with_web3s_recursion_limit(package: bytes) -> subprocess.CompletedProcess[str]:
    """Load ``package`` in a fresh interpreter whose recursion limit is web3's 100000; prints
    the refusal's class and reason."""
    script = textwrap.dedent(f"""
        import sys
        sys.setrecursionlimit(100000)
        from market.update_package import UpdatePackageError, load_update_package
        spec = {SPEC!r}
        try:
            load_update_package(sys.stdin.buffer.read(), spec)
        except UpdatePackageError as err:
            print(type(err).__name__, err.reason)
        else:
            print("accepted")
    """)
    return subprocess.run([sys.executable, "-c", script], input=package.decode("latin-1"), capture_output=True,
                          text=True, encoding="latin-1", timeout=120)


@pytest.mark.parametrize(("document", "depth"), [
    (b"{}", 1), (b"[]", 1), (b"3", 0), (b'{"a": {"b": [1, [2]]}}', 4),
    (b'{"a": "[[[[{{{{"}', 1), (b'["\\"[[[", [1]]', 2), (b'{"k\\\\": [[]]}', 3), ("[[\u00e9]]", 2),
])  # fmt: skip
def test_json_nesting_depth_counts_brackets_outside_strings(document, depth) -> None:
    assert json_nesting_depth(document) == depth


@pytest.mark.parametrize("document", [b'"\\' * 300_000, b'"\\"[' * 200_000, b'"x",' * 250_000, b"[" * 1_000_000])
def test_json_nesting_depth_is_linear_on_hostile_strings(document) -> None:
    """Escaped quotes that never close a string: a backtracking scan would be quadratic."""
    started = time.perf_counter()
    json_nesting_depth(document)
    assert time.perf_counter() - started < 2.0


def test_a_real_header_is_three_deep_and_loads() -> None:
    package = _package()
    (size,) = struct.unpack_from("<Q", package)
    assert json_nesting_depth(package[8 : 8 + size]) == 3
    assert load_update_package(package, SPEC).metadata.num_samples == 50


def test_a_header_nested_400k_deep_is_refused_in_a_process_with_web3s_recursion_limit() -> None:
    # Prepare: the review's attack, 400k open brackets under the 1 MiB header cap
    header = b"[" * DEEP + b"]" * DEEP
    assert len(header) <= MAX_HEADER_BYTES
    package = _with_header(_package(), header)
    # Execute
    done = _load_in_a_process_with_web3s_recursion_limit(package)
    # Assert: the process lives and the package is refused as a malformed header
    assert done.returncode == 0, f"the loader died ({done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.split() == ["HeaderTooDeep", "malformed-header"]


def test_a_header_one_level_too_deep_is_refused_with_its_reason() -> None:
    package = _with_header(_package(), b'{"__metadata__": {}, "t": {"shape": [[1]]}}')
    with pytest.raises(HeaderTooDeep) as raised:
        load_update_package(package, SPEC)
    assert raised.value.reason == "malformed-header"
    assert isinstance(raised.value, PackageMalformed)


@pytest.mark.parametrize("name", ["sketch", "metrics"])
def test_a_metadata_field_nested_400k_deep_is_refused_in_a_process_with_web3s_recursion_limit(name) -> None:
    deep = "[" * DEEP + "]" * DEEP if name == "sketch" else '{"a":' * (DEEP // 5) + "1" + "}" * (DEEP // 5)
    package = _with_metadata_field(_package(), name, deep)
    done = _load_in_a_process_with_web3s_recursion_limit(package)
    assert done.returncode == 0, f"the loader died ({done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.split() == ["InvalidMetadata", "bad-metadata"]


def test_a_nested_sketch_is_bad_metadata() -> None:
    with pytest.raises(InvalidMetadata, match="deeper"):
        load_update_package(_with_metadata_field(_package(), "sketch", "[[1]]"), SPEC)


def test_num_samples_of_ten_to_the_thirty_is_refused() -> None:
    # the review's value, which flipped FedAvg's sign
    with pytest.raises(TooManySamples) as raised:
        load_update_package(_package(num_samples=10**30), SPEC)
    assert raised.value.reason == "too-many-samples"
    assert f"{MAX_NUM_SAMPLES:,}" in str(raised.value)


def test_num_samples_at_the_cap_is_accepted() -> None:
    assert load_update_package(_package(num_samples=MAX_NUM_SAMPLES), SPEC).metadata.num_samples == MAX_NUM_SAMPLES


def test_a_spec_cap_lowers_the_protocol_cap_but_never_raises_it() -> None:
    with pytest.raises(TooManySamples):
        load_update_package(_package(num_samples=1001), SPEC, max_num_samples=1000)
    assert load_update_package(_package(num_samples=1000), SPEC, max_num_samples=1000)
    with pytest.raises(TooManySamples):
        load_update_package(_package(num_samples=MAX_NUM_SAMPLES + 1), SPEC, max_num_samples=10 * MAX_NUM_SAMPLES)


EXAMPLE_SPEC_CIDS = {
    "mlp": "bafkreidr5bl4pmeseopdiduxmcjaimf75rhnbxkfvcpg4wsyawwocf6rke",
    "cnn": "bafkreifahd3enm7tqtzap4baj5whl5ang3nylon4zpurvm63qnmpwey6p4",
    "logreg": "bafkreid2kedrwl7yjugluacpynyllw3mcegfmht3oxafqcvzp2uopdmzna",
}
"""The example specs' CIDs before the cap existed (commit 38f438b, whose example trained 2 epochs
at lr 0.1, batch 32: the defaults changed since, a stored spec's values did not)."""


@pytest.mark.parametrize("arch", sorted(EXAMPLE_SPEC_CIDS))
def test_a_spec_without_a_cap_keeps_its_bytes_and_cid(arch) -> None:
    spec = TaskSpec.example_digits(arch=arch, epochs=2, learning_rate=0.1, batch_size=32)
    assert b"max_num_samples" not in spec.to_json()
    assert compute_cid(spec.to_json()) == EXAMPLE_SPEC_CIDS[arch]
    assert TaskSpec.from_json(spec.to_json()).to_json() == spec.to_json()  # read back, written the same
    assert spec.limits.num_samples_cap == MAX_NUM_SAMPLES


def test_a_spec_cap_round_trips_and_may_not_exceed_the_protocol_cap() -> None:
    spec = TaskSpec.example_digits()
    capped = spec.model_copy(update={"limits": LimitsSection(max_num_samples=5000)})
    again = TaskSpec.from_json(capped.to_json())
    assert again.limits.num_samples_cap == 5000 and b'"max_num_samples":5000' in capped.to_json()
    document = json.loads(spec.to_json())
    document["limits"]["max_num_samples"] = MAX_NUM_SAMPLES + 1
    with pytest.raises(TaskSpecError, match="max_num_samples"):
        TaskSpec.from_json(json.dumps(document).encode())
