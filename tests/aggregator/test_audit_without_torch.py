"""``market audit`` and the aggregator service run where torch is not installed.

A subprocess installs a meta-path hook that makes every ``import torch`` fail, then imports the
audit, its command, the service and the intake, prints ``market audit --help`` through the
assembled ``market`` command, and runs one round of a tiny task end to end: numpy updates
submitted on the embedded chain, the :class:`AggregatorNode` publishing it, the audit
reproducing it from chain and storage.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_TORCH = '''
import sys

class _NoTorch:
    """Every import of torch (or a submodule) fails, as if it were not installed."""

    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in this test ({name})")
        return None

sys.meta_path.insert(0, _NoTorch())
'''

IMPORTS_AND_HELP = '''
import aggregator.audit, aggregator.cli.audit, aggregator.intake, aggregator.service
from click.testing import CliRunner
from market.cli.app import cli

result = CliRunner().invoke(cli, ["audit", "--help"])
assert result.exit_code == 0, result.output
assert "Re-run a task's rounds" in result.output
print("help ok")
'''

TINY_TASK = '''
import tempfile
from pathlib import Path

import numpy as np

from aggregator.audit import audit_task
from aggregator.service import AggregatorNode
from market.chain import EmbeddedChain
from market.encryption import EnvelopeContext, encrypt_for_aggregator, envelope_digest, generate_private_key, public_key_bytes
from market.marketplace import Marketplace
from market.model_state import param_spec, state_to_bytes
from market.storage import EmbeddedStorage
from market.task_spec import TaskSpec
from market.types import TaskConfig
from market.update_package import UpdateMetadata, build_update_package, model_spec_hash
from zk.protocol.commitment import random_salt, sketch_commitment
from zk.protocol.sketch import SketchParams, sketch_update

work = Path(tempfile.mkdtemp())
chain = EmbeddedChain(accounts=5)
owner, agg, *trainers = chain.dev_accounts()[:5]
market = Marketplace.deploy(chain, owner)
storage = EmbeddedStorage(work / "blocks")
spec = TaskSpec.example_digits(epochs=1)
layout = param_spec(spec.model)
spec = spec.with_initial_model(storage.put(state_to_bytes(
    {name: np.zeros(shape, dtype) for name, (shape, dtype) in layout.items()})))
key = generate_private_key()
market.register_aggregator_key(agg, public_key_bytes(key))
config = TaskConfig(spec_cid=storage.put(spec.to_json()), aggregator=agg.address,
                    aggregator_key=public_key_bytes(key), join_deadline=chain.timestamp() + 600, stake_wei=10**16,
                    rounds=1, min_trainers=3, max_trainers=3, submission_window=300, sketch_window=300,
                    publish_grace=600, strikes_to_slash=1)
task_id, _ = market.create_task(owner, config, 10**18)
for account in trainers:
    market.join(account, task_id)
market.start(owner, task_id)

updates = []
for slot, account in enumerate(trainers):
    rng = np.random.default_rng(slot)
    tensors = {name: (0.01 * rng.standard_normal(shape)).astype(dtype) for name, (shape, dtype) in layout.items()}
    salt = random_salt()
    meta = UpdateMetadata(task_id=task_id, round=0, trainer=account.address, num_samples=100 + slot,
                          salt=salt.to_bytes(32, "big"), model_spec_hash=model_spec_hash(layout))
    context = EnvelopeContext(chain_id=chain.chain_id, contract=market.address, task_id=task_id, round=0,
                              trainer=account.address)
    envelope = encrypt_for_aggregator(build_update_package(tensors, meta), public_key_bytes(key), context)
    market.submit_update(account, task_id, 0, storage.put(envelope), envelope_digest(envelope))
    updates.append((account, tensors, salt))

node = AggregatorNode(market=market, storage=storage, account=agg, encryption_key=key, task_id=task_id,
                      state_dir=work / "agg")
node.step()  # everyone submitted: close, fix the seed
seed = market.get_round(task_id, 0).seed
for slot, (account, tensors, salt) in enumerate(updates):
    sketch = sketch_update(tensors, seed, SketchParams(k=spec.scoring.sketch_k))
    commitment = sketch_commitment(sketch, salt) if slot < 2 else sketch_commitment(sketch, salt + 1)
    market.commit_sketch(account, task_id, 0, commitment)
node.step()  # intake, assess, publish
assert market.get_round(task_id, 0).published
assert node.rounds[0].intakes[2].reason == "sketch-mismatch"

audits = audit_task(market, storage, task_id)
assert [a.ok for a in audits] == [True], [c for a in audits for c in a.checks if not c.ok]
assert any(c.what.startswith("slot 2: rejection (sketch-mismatch)") for c in audits[0].checks)
print("audit ok", len(audits[0].checks))
'''

FINALLY = '''
assert not any(name == "torch" or name.startswith("torch.") for name in sys.modules), "torch was loaded"
print("no torch")
'''


def _run_without_torch(*parts: str) -> subprocess.CompletedProcess[str]:
    script = "\n".join(textwrap.dedent(p) for p in (BLOCK_TORCH, *parts, FINALLY))
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_audit_service_and_intake_import_and_run_without_torch() -> None:
    # Execute
    done = _run_without_torch(IMPORTS_AND_HELP, TINY_TASK)
    # Assert
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "help ok"
    assert "audit ok" in done.stdout and done.stdout.splitlines()[-1] == "no torch"


def test_the_torch_block_really_blocks() -> None:
    done = _run_without_torch("import trainers.models")
    assert done.returncode != 0 and "torch is blocked in this test" in done.stderr
