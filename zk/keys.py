"""Groth16 keys for the round circuit: a cached development key, or a ceremony key imported.

Two origins, one :class:`RoundKeys`:

* **development** (:func:`development_keys`): groth16py's single-party setup, in process
  (~2 s for N = 4, K = 4; ~20 s for N = 16, K = 32). Whoever ran it could forge proofs, so it
  is labelled a DEVELOPMENT key wherever it is shown. It is cached under
  ``$MARKET_ZK_CACHE`` (default ``~/.cache/poc-market/zk``) in a folder named after the
  shape and a digest of the circuit sources, the shape and the groth16py version: a changed
  circuit gets a new folder (and a new key); an unchanged one is loaded (~0.3 s at 16 × 32).
  groth16py's setup cannot be seeded, so a deleted cache means a new key, a new
  verification key and a new verifier to deploy.
* **ceremony** (:func:`ceremony_keys`): a snarkjs ``.zkey`` from a multi-party phase-2
  ceremony over a public powers-of-tau file, imported with groth16py (the production path;
  ``zk/README.md`` lists the commands).

A cache folder holds ``main.circom``, ``proving_key.bin`` (groth16py's own format, with the
R1CS and the witness generator), ``verification_key.json`` (snarkjs format) and
``meta.json``; :mod:`zk.solidity` adds the verifier it compiled for the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zk.exceptions import KeyMissingError, ZkToolMissingError
from zk.round_circuit import CIRCUITS_DIR, RoundShape

__all__ = [
    "CACHE_ENV",
    "CEREMONY",
    "DEFAULT_CACHE",
    "DEVELOPMENT",
    "DEVELOPMENT_LABEL",
    "RoundKeys",
    "cache_root",
    "captured_stdout",
    "ceremony_keys",
    "compile_main",
    "compiler_stats",
    "development_keys",
    "forget_loaded_keys",
    "groth16py_module",
    "has_development_key",
    "key_directory",
    "keys_for",
]

CACHE_ENV = "MARKET_ZK_CACHE"
DEFAULT_CACHE = Path("~/.cache/poc-market/zk")
DEVELOPMENT = "development"
CEREMONY = "ceremony"
DEVELOPMENT_LABEL = ("DEVELOPMENT key (single-party groth16py setup: whoever ran the setup could forge "
                     "proofs; never protect real value with it)")

Log = Callable[[str], None]


def groth16py_module() -> Any:
    """The ``groth16py`` module, or :class:`ZkToolMissingError` saying how to install it."""
    try:
        import groth16py
    except ImportError:  # pragma: no cover - a dependency
        raise ZkToolMissingError("groth16py is not installed: pip install groth16py==0.2.0") from None
    if not hasattr(groth16py, "setup_circom"):  # pragma: no cover - source builds without `native`
        raise ZkToolMissingError("this groth16py build lacks in-process circom (the `native` feature): "
                                 "install the published wheel, pip install groth16py==0.2.0")
    return groth16py


def cache_root(cache: Path | str | None = None) -> Path:
    """The key cache: ``cache`` if given, else ``$MARKET_ZK_CACHE``, else ``~/.cache/poc-market/zk``."""
    if cache is None:
        cache = os.environ.get(CACHE_ENV) or DEFAULT_CACHE
    return Path(cache).expanduser()


def _key_digest(shape: RoundShape) -> str:
    g = groth16py_module()
    return hashlib.sha256(f"{shape.circuit_hash()}\ngroth16py {g.__version__}\n".encode()).hexdigest()


def key_directory(shape: RoundShape, cache: Path | str | None = None) -> Path:
    """Where the development key for ``shape`` is (or would be) cached."""
    return cache_root(cache) / f"round-{shape.name}-{_key_digest(shape)[:16]}"


@contextlib.contextmanager
def captured_stdout() -> Iterator[list[str]]:
    """Capture what native code prints on file descriptor 1 (groth16py's circom compiler
    reports its constraint counts there); the lines are in the yielded list afterwards."""
    lines: list[str] = []
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield lines
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            text = re.sub(r"\x1b\[[0-9;]*m", "", sink.read().decode(errors="replace"))
            lines.extend(line.strip() for line in text.splitlines() if line.strip())


def compiler_stats(lines: list[str]) -> dict[str, int]:
    """The circom compiler's counts (``non-linear constraints``, ``wires``, …) from its output."""
    stats = {}
    for line in lines:
        name, _, value = line.partition(":")
        if value.strip().isdigit():
            stats[name.strip()] = int(value)
    return stats


def _include_dir(root: Path) -> Path:
    """A folder holding ``circomlib/circuits`` (groth16py's vendored circomlib 2.0.5, the same
    files as npm circomlib 2.0.5), for ``include "circomlib/circuits/…"``."""
    g = groth16py_module()
    vendored = Path(g.circomlib_path(2))  # …/_vendor/circomlib2/circuits
    folder = root / f"include-groth16py-{g.__version__}"
    link = folder / "circomlib"
    if not (link / "circuits" / "poseidon.circom").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".circomlib-{os.getpid()}"
        try:
            tmp.symlink_to(vendored.parent, target_is_directory=True)
        except OSError:  # no symlinks here: copy the sources (3 MB)
            shutil.copytree(vendored.parent, tmp)
        try:
            os.replace(tmp, link)
        except OSError:  # another process made it first
            if tmp.is_symlink():
                tmp.unlink()
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    return folder


def compile_main(shape: RoundShape, folder: Path) -> tuple[Path, list[str]]:
    """Write the main component into ``folder``; return its path and the include folders."""
    main = folder / "main.circom"
    main.write_text(shape.main_source())
    return main, [str(CIRCUITS_DIR), str(_include_dir(folder.parent))]


class RoundKeys:
    """A proving key and its verification key for one round circuit shape.

    A cached key's proving key is loaded on first use (``proving_key``: ~11 s at 16 × 32, as
    groth16py checks every point), so deploying its verifier needs only the verification key;
    keys loaded from the cache are kept per process (:func:`development_keys` returns the same
    object again)."""

    def __init__(self, *, shape: RoundShape, vk_json: dict, origin: str, circuit_hash: str,
                 meta: dict | None = None, directory: Path | None = None, proving_key: Any = None,
                 verifying_key: Any = None) -> None:
        self.shape = shape
        self.vk_json = vk_json
        self.origin = origin
        self.circuit_hash = circuit_hash
        self.meta = dict(meta or {})
        self.directory = directory
        self._proving_key = proving_key
        self._verifying_key = verifying_key
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RoundKeys({self.describe()}, directory={self.directory})"

    @property
    def proving_key(self) -> Any:
        """groth16py's ProvingKey (loaded from the cache folder on first use)."""
        with self._lock:
            if self._proving_key is None:
                path = self.directory / "proving_key.bin" if self.directory is not None else None
                if path is None or not path.is_file():
                    raise KeyMissingError(f"no proving key for {self.describe()}")
                self._proving_key = groth16py_module().ProvingKey.load(str(path))
            return self._proving_key

    @property
    def verifying_key(self) -> Any:
        """groth16py's VerifyingKey."""
        if self._verifying_key is None:
            self._verifying_key = groth16py_module().VerifyingKey.from_snarkjs(json.dumps(self.vk_json))
        return self._verifying_key

    @property
    def is_development(self) -> bool:
        return self.origin == DEVELOPMENT

    @property
    def label(self) -> str:
        """What to show next to anything made with this key."""
        if self.is_development:
            return DEVELOPMENT_LABEL
        return f"ceremony key ({self.meta.get('zkey', 'imported .zkey')})"

    @property
    def vk_digest(self) -> str:
        """sha256 of the canonical verification-key JSON: names the key in logs and files."""
        return hashlib.sha256(json.dumps(self.vk_json, sort_keys=True).encode()).hexdigest()

    def describe(self) -> str:
        return f"round circuit {self.shape.name}, vk {self.vk_digest[:12]}: {self.label}"


_LOADED: dict[Path, RoundKeys] = {}
_LOADED_LOCK = threading.Lock()


def forget_loaded_keys() -> None:
    """Drop the keys this process loaded (the next :func:`development_keys` reads the cache)."""
    with _LOADED_LOCK:
        _LOADED.clear()


def has_development_key(shape: RoundShape, cache: Path | str | None = None) -> bool:
    """Whether the development key of ``shape`` is cached (complete: its meta.json is written last)."""
    return (key_directory(shape, cache) / "meta.json").is_file()


def _load(shape: RoundShape, folder: Path, proving_key: Any = None) -> RoundKeys:
    with _LOADED_LOCK:
        keys = _LOADED.get(folder)
        if keys is not None and (folder / "meta.json").is_file():
            return keys
        meta = json.loads((folder / "meta.json").read_text())
        keys = RoundKeys(shape=shape, vk_json=json.loads((folder / "verification_key.json").read_text()),
                         origin=meta["origin"], circuit_hash=meta["circuitHash"], meta=meta, directory=folder,
                         proving_key=proving_key)
        _LOADED[folder] = keys
        return keys


def development_keys(shape: RoundShape, *, cache: Path | str | None = None, create: bool = True,
                     log: Log | None = None) -> RoundKeys:
    """The cached development key for ``shape``; made (and cached) when missing unless
    ``create`` is false (then :class:`KeyMissingError`). Safe against concurrent callers:
    a key is built in a temporary folder and renamed into place; the first one wins."""
    log = log or (lambda message: None)
    folder = key_directory(shape, cache)
    if has_development_key(shape, cache):
        return _load(shape, folder)
    if not create:
        raise KeyMissingError(f"no development key for the round circuit {shape.name} in {folder}")
    g = groth16py_module()
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".round-{shape.name}-", dir=folder.parent))
    try:
        main, includes = compile_main(shape, work)
        log(f"round circuit {shape.name}: single-party setup of a DEVELOPMENT key (groth16py {g.__version__}) …")
        started = time.perf_counter()
        with captured_stdout() as lines:
            pk, vk = g.setup_circom(str(main), includes)
        seconds = time.perf_counter() - started
        stats = compiler_stats(lines)
        pk.save(str(work / "proving_key.bin"))
        (work / "verification_key.json").write_text(vk.to_json())
        meta = {
            "origin": DEVELOPMENT, "label": DEVELOPMENT_LABEL, "n": shape.n, "k": shape.k,
            "circuitHash": shape.circuit_hash(), "groth16py": g.__version__, "setupSeconds": round(seconds, 3),
            "constraints": stats.get("non-linear constraints"), "wires": stats.get("wires"),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (work / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        try:
            os.rename(work, folder)
        except OSError:  # another process cached its key first: use that one
            shutil.rmtree(work, ignore_errors=True)
            pk = None
        else:
            log(f"round circuit {shape.name}: DEVELOPMENT key cached in {folder} ({seconds:.1f} s)")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return _load(shape, folder, proving_key=pk)


def keys_for(shape: RoundShape, keys: RoundKeys | None = None, *, cache: Path | str | None = None,
             log: Log | None = None) -> RoundKeys:
    """``keys``, checked to be for ``shape`` (ValueError otherwise), or the cached development key
    of ``shape`` (made if missing): what a prover or a deployment of that circuit uses."""
    if keys is None:
        return development_keys(shape, cache=cache, log=log)
    if keys.shape != shape:
        raise ValueError(f"the keys are for {keys.shape.name}, not {shape.name}")
    return keys


def ceremony_keys(shape: RoundShape, zkey: Path | str, *, cache: Path | str | None = None) -> RoundKeys:
    """Import a snarkjs Groth16 ``.zkey`` made for ``Round(n, k)`` (the production path). The
    circuit is compiled alongside so that proving runs in process; the zkey must come from
    this very circuit (same sources, same circom), else proofs will not verify."""
    g = groth16py_module()
    zkey = Path(zkey)
    if not zkey.is_file():
        raise KeyMissingError(f"no .zkey at {zkey}")
    root = cache_root(cache)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".ceremony-{shape.name}-", dir=root))
    try:
        main, includes = compile_main(shape, work)
        with captured_stdout():
            pk, vk = g.import_zkey(str(zkey), str(main), includes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    digest = hashlib.sha256(zkey.read_bytes()).hexdigest()
    meta = {"origin": CEREMONY, "label": f"ceremony key {zkey.name}", "zkey": zkey.name, "zkeySha256": digest,
            "n": shape.n, "k": shape.k, "circuitHash": shape.circuit_hash(), "groth16py": g.__version__}
    return RoundKeys(shape=shape, vk_json=json.loads(vk.to_json()), origin=CEREMONY, circuit_hash=shape.circuit_hash(),
                     meta=meta, proving_key=pk, verifying_key=vk)
