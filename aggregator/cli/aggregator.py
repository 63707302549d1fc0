"""``market aggregator close|publish``: publishing a round by hand (trusted mode)."""

from __future__ import annotations

from pathlib import Path

import click

from market.cli.context import CliContext, console, pass_ctx, report, secret_password, service_log, until_reachable
from market.cli.options import from_option, parse_int_list, password_file_option, round_option
from market.exceptions import MarketValueError
from market.types import RoundPublication


@click.group("aggregator")
def cli() -> None:
    """Close rounds and publish their results."""


@cli.command("close")
@click.argument("task_id", type=int)
@round_option()
@from_option()
@password_file_option()
@pass_ctx
def close(ctx: CliContext, task_id: int, round_: int | None, sender: str, password_file: Path | None) -> None:
    """Close the round's submissions and fix its sketch seed (anyone, after the deadline)."""
    market = ctx.marketplace
    round_ = market.get_task(task_id).current_round if round_ is None else round_
    result = market.close_submissions(ctx.signer(sender, password_file), task_id, round_)
    seed = result.event("SubmissionsClosed")["seed"]
    report(result, f"task {task_id} round {round_} closed; seed {seed:#x}")


@cli.command("commit-reference")
@click.argument("task_id", type=int)
@round_option()
@click.option("--digest", default=None, help="0x + 64 hex: SHA-256 of the round's reference update (before any "
              "submission of the round).")
@click.option("--commitment", default=None, help="Poseidon commitment to the reference's sketch under the round's "
              "seed (after close).")
@from_option()
@password_file_option()
@pass_ctx
def commit_reference(ctx: CliContext, task_id: int, round_: int | None, digest: str | None, commitment: str | None,
                     sender: str, password_file: Path | None) -> None:
    """Fix the round's reference (root-of-trust rule): its digest, or its sketch commitment (aggregator only)."""
    from market.cli.options import parse_hex32

    if (digest is None) == (commitment is None):
        raise MarketValueError("give --digest (before submissions) or --commitment (after close), one of them")
    market, signer = ctx.marketplace, ctx.signer(sender, password_file)
    round_ = market.get_task(task_id).current_round if round_ is None else round_
    if digest is not None:
        result = market.commit_reference(signer, task_id, round_, parse_hex32(digest, "--digest needs 64 hex digits"))
        report(result, f"task {task_id} round {round_}: reference digest fixed")
        return
    try:
        value = int(commitment, 0)
    except ValueError:
        raise MarketValueError(f"--commitment must be an integer, got {commitment!r}") from None
    result = market.commit_reference_sketch(signer, task_id, round_, value)
    report(result, f"task {task_id} round {round_}: reference sketch committed")


def _marks(text: str | None, n: int, name: str) -> list[bool]:
    values = parse_int_list(text, name) or [0] * n
    if len(values) != n or any(v not in (0, 1) for v in values):
        raise MarketValueError(f"--{name} needs {n} comma-separated 0/1 values, one per trainer slot")
    return [bool(v) for v in values]


@cli.command("publish")
@click.argument("task_id", type=int)
@round_option()
@click.option("--model-cid", required=True, help="CID of the new global model.")
@click.option("--flags", default=None, help="0/1 per trainer slot, e.g. 0,1,0 (default all 0).")
@click.option("--rejections", default=None, help="0/1 per trainer slot (default all 0).")
@click.option("--scores", required=True, help="One integer score per trainer slot, e.g. 10,0,7.")
@click.option("--aggregate-commitment", default="0", help="Commitment to the aggregate sketch.")
@click.option("--proof-file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Proof bytes for a zk-verified task.")
@from_option()
@password_file_option()
@pass_ctx
def publish(ctx: CliContext, task_id: int, round_: int | None, model_cid: str, flags: str | None,
            rejections: str | None, scores: str, aggregate_commitment: str, proof_file: Path | None, sender: str,
            password_file: Path | None) -> None:
    """Publish a round: model CID, flags, rejections, scores (aggregator only)."""
    market = ctx.marketplace
    task = market.get_task(task_id)
    round_ = task.current_round if round_ is None else round_
    n = task.trainer_count
    score_list = parse_int_list(scores, "scores")
    if len(score_list) != n:
        raise MarketValueError(f"--scores needs {n} values, one per trainer slot")
    publication = RoundPublication(
        global_model_cid=model_cid, flags=_marks(flags, n, "flags"), rejections=_marks(rejections, n, "rejections"),
        scores=score_list, aggregate_commitment=int(aggregate_commitment, 0),
        proof=proof_file.read_bytes() if proof_file else b"",
    )
    result = market.publish_round(ctx.signer(sender, password_file), task_id, round_, publication)
    report(result, f"task {task_id} round {round_} published")
    if task.trusted_aggregator:
        console.print("[yellow]trusted-aggregator mode: no proof was checked[/]")


@cli.command("keygen")
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the private X25519 key (PEM, encrypted with the wallet password source).")
@password_file_option()
def keygen(out: Path, password_file: Path | None) -> None:
    """Make the aggregator's encryption key; prints the public key (register it: `market aggregator register-key`)."""
    from market.encryption import generate_private_key, public_key_bytes, save_private_key

    if out.exists():
        raise MarketValueError(f"{out} exists: refusing to overwrite an aggregator key")
    password = secret_password(f"the aggregator key {out}", password_file, confirm=True)
    key = generate_private_key()
    save_private_key(key, out, password.encode())
    console.print(f"key written to {out}; public key (give it to task owners):")
    console.print("0x" + public_key_bytes(key).hex())


def read_aggregator_key(key_file: Path, password_file: Path | None):
    """The aggregator's private key from ``key_file``, unlocked with the wallets' password source
    (file, MARKET_PASSWORD or a prompt); a key written unencrypted by an older keygen opens without."""
    from market.encryption import load_private_key

    if b"ENCRYPTED" not in key_file.read_bytes()[:64]:
        console.print(f"[yellow]{key_file} is not encrypted: `market aggregator keygen` writes encrypted keys[/]")
        return load_private_key(key_file, None)
    return load_private_key(key_file, secret_password(f"the aggregator key {key_file}", password_file).encode())


@cli.command("register-key")
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="The aggregator's private encryption key (from `market aggregator keygen`): its public key is registered.")
@click.option("--public-key", "public_hex", default=None, help="Or the X25519 public key itself (0x + 64 hex digits).")
@from_option()
@password_file_option()
@pass_ctx
def register_key(ctx: CliContext, key_file: Path | None, public_hex: str | None, sender: str,
                 password_file: Path | None) -> None:
    """Register the aggregator's encryption key on chain: tasks naming this account as aggregator
    must carry this key (`task post` refuses another), so no owner can hand trainers a key of its own."""
    from market.encryption import check_public_key, public_key_bytes

    if (key_file is None) == (public_hex is None):
        raise MarketValueError("give exactly one of --key and --public-key")
    if key_file is not None:
        public = public_key_bytes(read_aggregator_key(key_file, password_file))
    else:
        try:
            public = bytes.fromhex(public_hex.removeprefix("0x"))
        except ValueError:
            raise MarketValueError(f"--public-key is not hex: {public_hex!r}") from None
    public = check_public_key(public)
    account = ctx.signer(sender, password_file)
    result = ctx.marketplace.register_aggregator_key(account, public)
    report(result, f"aggregator key 0x{public.hex()} registered for {account.address}")


@cli.command("run")
@click.option("--task", "task_id", type=int, required=True)
@click.option("--key", "key_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="The aggregator's private encryption key (from `market aggregator keygen`).")
@click.option("--validation", type=click.Path(exists=True, path_type=Path), default=None,
              help="Owner's validation data (.npz/.csv/image folder) for the Shapley estimates.")
@click.option("--poll", type=float, default=2.0, show_default=True)
@click.option("--state-dir", type=click.Path(file_okay=False, path_type=Path), default=None)
@click.option("--memory-budget", "memory_mib", type=click.IntRange(min=1), default=1024, show_default=True,
              help="MiB of updates a round may hold at once; above it the intake streams (memory O(d), "
                   "each update read twice, validation Shapley skipped).")
@from_option()
@password_file_option()
@pass_ctx
def run(ctx: CliContext, task_id: int, key_file: Path, validation: Path | None, poll: float, state_dir: Path | None,
        memory_mib: int, sender: str, password_file: Path | None) -> None:
    """Run the aggregator service for a task until it is finalized (resumes after a restart)."""
    from aggregator.evaluation import make_evaluator, make_reference_trainer
    from aggregator.service import AggregatorNode
    from market.storage import open_storage
    from trainers.data import load_dataset
    from trainers.models import initial_state

    account = ctx.signer(sender, password_file)
    key = read_aggregator_key(key_file, password_file)
    factory = None
    if validation is not None:
        factory = lambda spec: make_evaluator(spec, load_dataset(validation, spec.data))  # noqa: E731
    prover = until_reachable(lambda: _prover(ctx, task_id, open_storage(ctx.config)), poll=poll)  # nodes may be starting
    node = AggregatorNode(
        market=ctx.marketplace, storage=open_storage(ctx.config), account=account, encryption_key=key,
        task_id=task_id, state_dir=state_dir or ctx.config.home / "aggregator", evaluate_factory=factory,
        prover=prover, log=service_log, memory_budget=memory_mib << 20, initial_state=initial_state,
        reference_factory=make_reference_trainer,
    )
    outcome = node.run(poll_seconds=poll)
    console.print(f"task {task_id}: {outcome}")


def _prover(ctx: CliContext, task_id: int, storage):
    """The prover of the task's circuit: the reference rule's at the on-chain adapter's shape, or
    the median rule's; None for a trusted-aggregator task."""
    task = ctx.marketplace.get_task(task_id)
    if task.trusted_aggregator:
        return None
    from market.task_spec import MAX_SPEC_BYTES, TaskSpec

    log = service_log
    if task.uses_reference:
        from zk.onchain_reference import read_reference_verifier
        from zk.prover import make_reference_prover

        return make_reference_prover(shape=read_reference_verifier(ctx.chain.web3, task.config.verifier).shape, log=log)
    from zk.prover import make_round_prover

    def make():
        spec = TaskSpec.from_json(storage.get(task.config.spec_cid, max_bytes=MAX_SPEC_BYTES))
        slots = ctx.marketplace.verifier_info(task.config.verifier).slots  # the circuit the task's verifier checks
        return make_round_prover(n=slots, k=spec.scoring.sketch_k, log=log)

    return _DeferredProver(make)


class _DeferredProver:
    """A prover made at its first use: the median rule's needs the spec's sketch size, read from
    storage, and a node must start (and retry) while its IPFS node is down."""

    def __init__(self, make) -> None:
        self._make, self._prover = make, None

    def _get(self):
        if self._prover is None:
            self._prover = self._make()
        return self._prover

    def __call__(self, *args):
        return self._get()(*args)

    def key_document(self) -> dict | None:
        document = getattr(self._get(), "key_document", None)
        return document() if callable(document) else None
