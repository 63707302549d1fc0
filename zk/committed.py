"""The committed round verifiers (``zk/keys/round-<N>x<K>.vk.json`` and
``contracts/zk/RoundGroth16Verifier<N>x<K>.sol``): regenerate one from a key, or check that every
one is fresh (``scripts/generate_verifier.py``).

Regenerating makes the development key first when the cache has none (groth16py single-party
setup, ~20 s at 16x32) unless a ceremony ``.zkey`` is given; compile the contracts afterwards
(``scripts/compile_contracts.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from zk.keys import ceremony_keys, development_keys
from zk.round_circuit import RoundShape
from zk.solidity import check_committed_verifier, committed_shapes, write_committed_verifier

__all__ = ["check_committed_verifiers", "regenerate_verifier"]


def check_committed_verifiers(echo: Callable[[str], None] = print) -> int:
    """Check every committed verifier against its key and circuit; ``echo`` one line per shape
    (``ok`` or each problem); returns how many are stale."""
    stale = 0
    for shape in committed_shapes():
        problems = check_committed_verifier(shape)
        for problem in problems:
            echo(f"STALE {shape.name}: {problem}")
        if not problems:
            echo(f"ok    {shape.name}")
        stale += bool(problems)
    return stale


def regenerate_verifier(n: int, k: int, *, zkey: Path | None = None, cache: Path | None = None,
                        echo: Callable[[str], None] = print) -> list[Path]:
    """Write Round(n, k)'s committed verifier from the ceremony key ``zkey`` or the cached
    development key (made if missing); returns the files written."""
    shape = RoundShape(n, k)
    keys = ceremony_keys(shape, zkey, cache=cache) if zkey is not None else development_keys(shape, cache=cache,
                                                                                            log=echo)
    paths = write_committed_verifier(keys)
    for path in paths:
        echo(f"wrote {path}")
    echo(f"key: {keys.describe()}")
    echo("next: python scripts/compile_contracts.py")
    return paths
