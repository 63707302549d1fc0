"""The house: every import arrow points down (docs/DESIGN.md, "Layers").

Every module under ``market/``, ``zk/``, ``trainers/``, ``aggregator/``, ``benchmarks/`` and
``scripts/`` is parsed (``ast``, nothing is imported) and each of its imports, at module level
or inside a function, and each ``importlib.import_module("…")`` / ``__import__("…")`` with a
constant name, is checked against the layer rules:

======================  ===================================================================
layer (bottom first)    may import (first-party)
======================  ===================================================================
market core             market core (``market/`` except ``market/cli/``)
market cli              market core, market cli (the assembler finds the rest by entry point)
zk.protocol             market core, zk.protocol (``zk/protocol/``, ``zk/exceptions.py`` and
                        ``zk/__init__.py``, which runs whenever a ``zk.protocol`` module loads)
zk proving              the above, zk proving (``zk/`` except ``protocol/`` and ``cli.py``)
trainers                the above, trainers
aggregator              the above, aggregator (never trainers, never ``aggregator.evaluation``)
aggregator.evaluation   the above, trainers, aggregator
app                     everything (each package's ``cli``, ``zk/cli.py``, ``benchmarks/``,
                        ``scripts/``)
======================  ===================================================================

Nothing imports ``tests``. torch is imported only under ``trainers/`` (its ``cli`` included) and
by ``aggregator/evaluation.py``: the benchmarks reach torch only through ``trainers`` (e.g.
``trainers.training.torch_threads``).

A second test holds the size rules of STYLE.md: no module outside ``tests/`` over 400 lines, no
function over 60. The last ones check the packages' public surface: each ``__init__`` lists its
modules in ``__all__`` and importing the packages (and the protocol core) loads neither torch
nor the prover.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_FOLDERS = ("market", "zk", "trainers", "aggregator", "benchmarks", "scripts")
FIRST_PARTY = frozenset({*SOURCE_FOLDERS, "tests"})
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


class Layer(Enum):
    """The layers, bottom first (the value orders them only for messages)."""

    MARKET_CORE = "market core"
    MARKET_CLI = "market cli"
    PROTOCOL = "zk.protocol"
    ZK = "zk proving"
    TRAINERS = "trainers"
    AGGREGATOR = "aggregator"
    EVALUATION = "aggregator.evaluation"
    APP = "app"
    TESTS = "tests"


_BELOW_TRAINERS = {Layer.MARKET_CORE, Layer.PROTOCOL, Layer.ZK}
#: The first-party layers each layer may import.
ALLOWED: dict[Layer, frozenset[Layer]] = {
    Layer.MARKET_CORE: frozenset({Layer.MARKET_CORE}),
    Layer.MARKET_CLI: frozenset({Layer.MARKET_CORE, Layer.MARKET_CLI}),
    Layer.PROTOCOL: frozenset({Layer.MARKET_CORE, Layer.PROTOCOL}),
    Layer.ZK: frozenset(_BELOW_TRAINERS),
    Layer.TRAINERS: frozenset(_BELOW_TRAINERS | {Layer.TRAINERS}),
    Layer.AGGREGATOR: frozenset(_BELOW_TRAINERS | {Layer.AGGREGATOR}),
    Layer.EVALUATION: frozenset(_BELOW_TRAINERS | {Layer.TRAINERS, Layer.AGGREGATOR, Layer.EVALUATION}),
    Layer.APP: frozenset(set(Layer) - {Layer.TESTS}),
}
#: Folders and files (relative to the root, "/"-separated) whose modules may import torch.
TORCH_ALLOWED = ("trainers/", "aggregator/evaluation.py")
BANNED_THIRD_PARTY = ("torch",)


@dataclass(frozen=True)
class Violation:
    """One upward import: where, what, and which rule it breaks."""

    path: str
    line: int
    module: str
    target: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.target}: {self.rule}"


def module_name(rel_path: str) -> str:
    """``market/cli/app.py`` → ``market.cli.app``; ``zk/__init__.py`` → ``zk``."""
    parts = rel_path.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> Layer:
    """The layer of a first-party module, by where it lives."""
    parts = module.split(".")
    top, rest = parts[0], parts[1:]
    if top == "tests":
        return Layer.TESTS
    if top in {"benchmarks", "scripts"} or (rest[:1] == ["cli"] and top != "market"):
        return Layer.APP
    if top == "market":
        return Layer.MARKET_CLI if rest[:1] == ["cli"] else Layer.MARKET_CORE
    if top == "zk":
        return Layer.PROTOCOL if rest[:1] in ([], ["protocol"], ["exceptions"]) else Layer.ZK
    if top == "aggregator":
        return Layer.EVALUATION if rest[:1] == ["evaluation"] else Layer.AGGREGATOR
    if top == "trainers":
        return Layer.TRAINERS
    raise ValueError(f"{module} is not first-party")


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute name of ``from [.…]x import …`` inside ``module``."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_names(tree: ast.AST, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``tree``, once a line; ``from pkg import sub``
    names ``pkg.sub`` when that is a module of the repository."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if base.split(".")[0] in FIRST_PARTY and _is_module(sub) else base))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return sorted(set(found))


def check_imports(rel_path: str, source: str) -> list[Violation]:
    """The upward imports of one module, given its path relative to the root and its source."""
    module = module_name(rel_path)
    layer = layer_of(module)
    tree = ast.parse(source, filename=rel_path)
    violations = []
    for line, target in imported_names(tree, module, rel_path.endswith("__init__.py")):
        top = target.split(".")[0]
        if top in BANNED_THIRD_PARTY and not rel_path.startswith(TORCH_ALLOWED):
            violations.append(Violation(rel_path, line, module, target,
                                        f"only {', '.join(TORCH_ALLOWED)} may import {top}"))
        elif top in FIRST_PARTY:
            target_layer = layer_of(target)
            if target_layer not in ALLOWED[layer]:
                violations.append(Violation(rel_path, line, module, target,
                                            f"{layer.value} may not import {target_layer.value}"))
    return violations


def source_files() -> list[Path]:
    """Every Python module of the source folders (not tests)."""
    return sorted(p for folder in SOURCE_FOLDERS for p in (ROOT / folder).rglob("*.py"))


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_every_import_arrow_points_down():
    violations = [v for p in source_files() for v in check_imports(_rel(p), p.read_text())]
    assert not violations, f"{len(violations)} upward import(s):\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(("rel_path", "source", "expected"), [
    ("market/marketplace.py", "def f():\n    import torch\n", "only trainers/"),
    ("market/marketplace.py", "from zk.protocol.params import DEFAULT_TAU\n", "market core may not import zk.protocol"),
    ("market/cli/task.py", "from trainers.cli import task_post\n", "market cli may not import app"),
    ("market/cli/task.py", "import importlib\nimportlib.import_module('aggregator.service')\n",
     "market cli may not import aggregator"),
    ("zk/protocol/rule.py", "from zk import prover\n", "zk.protocol may not import zk proving"),
    ("zk/protocol/rule.py", "from ..round_circuit import RoundShape\n", "zk.protocol may not import zk proving"),
    ("zk/prover.py", "from aggregator.detectors import provable\n", "zk proving may not import aggregator"),
    ("aggregator/service.py", "from trainers.models import build_model\n", "aggregator may not import trainers"),
    ("aggregator/service.py", "from aggregator.evaluation import make_evaluator\n",
     "aggregator may not import aggregator.evaluation"),
    ("trainers/node.py", "from aggregator import intake\n", "trainers may not import aggregator"),
    ("trainers/node.py", "from benchmarks.kit import x\n", "trainers may not import app"),
    ("benchmarks/overhead.py", "def f():\n    import torch\n", "only trainers/"),
    ("scripts/post_task.py", "from tests.conftest import x\n", "app may not import tests"),
])
def test_the_checker_sees_each_kind_of_upward_import(rel_path, source, expected):
    violations = check_imports(rel_path, source)
    assert len(violations) == 1 and expected in str(violations[0]), violations
    assert str(violations[0]).startswith(f"{rel_path}:")


@pytest.mark.parametrize(("rel_path", "source"), [
    ("zk/protocol/rule.py", "from zk.exceptions import ZkError\nfrom market.exceptions import MarketError\n"),
    ("zk/protocol/rule.py", "from .field import to_field\nimport numpy\n"),
    ("aggregator/evaluation.py", "import torch\nfrom trainers.models import build_model\n"),
    ("aggregator/cli/aggregator.py", "from trainers.data import load_dataset\nfrom zk.prover import x\n"),
    ("benchmarks/overhead.py", "def f():\n    from trainers.training import torch_threads\n"),
    ("market/cli/app.py", "from market.cli.context import console\nfrom market.chain import EmbeddedChain\n"),
])
def test_the_checker_lets_downward_imports_pass(rel_path, source):
    assert check_imports(rel_path, source) == []


def _long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [f"{_rel(path)}:{node.lineno}: {node.name} has {node.end_lineno - node.lineno + 1} lines"
            for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_no_module_over_400_lines_and_no_function_over_60():
    problems = []
    for path in source_files():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{_rel(path)}: {lines} lines (at most {MAX_MODULE_LINES})")
        problems += _long_functions(path)
    assert not problems, f"{len(problems)} over the size rules:\n" + "\n".join(problems)


@pytest.mark.parametrize("package", ["market", "aggregator", "trainers"])
def test_each_package_lists_its_modules_in_all(package):
    folder = ROOT / package
    modules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in folder.glob("*/__init__.py")}
    assert set(importlib.import_module(package).__all__) == modules


def test_importing_the_packages_imports_no_torch_and_no_prover():
    code = ("import sys, market, zk, aggregator, trainers, zk.protocol.rule, zk.protocol.params; "
            "print(sorted(m for m in ('torch', 'groth16py', 'trainers.models') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == "[]"
