"""`market task post --root-set`: a spec (from flags or the owner's file) paying by the root-of-trust
rule, its root set checked for class balance and sealed to the aggregator; the aggregator's manual
reference commands."""

from __future__ import annotations

import numpy as np

from market.chain.nodes import chain_down
from market.config import MarketConfig
from market.encryption import load_private_key
from market.root_set import RootSet, open_root_set
from market.storage import EmbeddedStorage
from market.task_spec import TaskSpec
from trainers.data import digits_train_test


def _root_file(folder, *, balanced: bool = True):
    _, test = digits_train_test((64,))
    root = RootSet.balanced_sample(test.X, test.y, per_class=5, num_classes=10, seed=0)
    if not balanced:
        root = RootSet(root.X[:-1], root.y[:-1])
    path = folder / ("root.npz" if balanced else "skewed.npz")
    path.write_bytes(root.to_bytes())
    return path, root


def test_post_with_a_root_set_seals_it_and_commits_to_it(market_cli, anvil_port, tmp_path):
    market_cli.run("chain", "up", "--port", str(anvil_port))
    try:
        market_cli.run("deploy", "--no-zk")
        for name in ("owner", "agg"):
            market_cli.run("wallet", "new", name)
        market_cli.run("wallet", "fund", "owner", "--amount", "2ether", "--from", "dev:0")
        public = market_cli.register_aggregator("agg")
        post = ("task", "post", "--aggregator", "agg", "--aggregator-key", public,
                "--reward", "0.1ether", "--verifier", "none", "--from", "owner")
        skewed, _ = _root_file(tmp_path, balanced=False)
        refused = market_cli.run(*post, "--root-set", str(skewed), ok=False)
        assert refused.returncode != 0 and "not class-balanced" in refused.stderr, refused.stderr
        path, root = _root_file(tmp_path)
        posted = market_cli.run(*post, "--root-set", str(path))
        assert "root set sealed to the aggregator" in posted.stdout, posted.stdout
        storage = EmbeddedStorage(MarketConfig(home=market_cli.home).blocks_dir)
        spec_cid = posted.stdout.split("task spec digits-mlp stored: ")[1].split()[0]
        spec = TaskSpec.from_json(storage.get(spec_cid))
        section = spec.scoring.reference
        assert spec.scoring.detector == "reference" and section.per_class == 5 and section.root_set_digest == root.digest()
        key = load_private_key(market_cli.home / "agg.key", b"correct horse")
        opened = open_root_set(storage.get(section.root_set_cid), key, input_shape=(64,), num_classes=10, per_class=5,
                               digest=section.root_set_digest)
        assert np.array_equal(opened.X, root.X)
        # a spec file of the owner's (here a logreg digits spec) commits to the root set the same way
        (tmp_path / "spec.json").write_text(market_cli.run("task", "spec", "--model", "logreg").stdout)
        from_file = market_cli.run(*post, "--spec", str(tmp_path / "spec.json"), "--root-set", str(path))
        stored = TaskSpec.from_json(storage.get(from_file.stdout.split("task spec stored: ")[1].split()[0]))
        assert stored.model.arch == "logreg" and stored.scoring.detector == "reference"
        assert stored.scoring.reference.root_set_digest == root.digest()
        by_cid = market_cli.run(*post, "--spec-cid", spec_cid, "--root-set", str(path), ok=False)
        assert by_cid.returncode != 0 and "not --spec-cid" in by_cid.stderr, by_cid.stderr
        both = market_cli.run("aggregator", "commit-reference", "1", "--from", "agg", ok=False)
        assert both.returncode != 0 and "--digest" in both.stderr
    finally:
        chain_down(market_cli.home / "anvil")
