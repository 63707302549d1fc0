"""``market task post``: post a task and escrow its reward.

Owned by ``trainers`` (attached under ``market task`` by the command assembler,
:mod:`market.cli.app`): a spec built from flags (:mod:`trainers.task_builder`) gets its initial
model from the trainers' model registry, which needs torch (imported only when a spec is built
here).
"""

from __future__ import annotations

from pathlib import Path

import click

from market.cli.context import CliContext, console, pass_ctx, report
from market.cli.options import AMOUNT, DURATION, from_option, parse_hex32, password_file_option
from market.exceptions import MarketError, MarketValueError
from market.types import ZERO_ADDRESS, TaskConfig
from market.units import ether
from trainers.cli.spec_flags import spec_flag_options
from zk.protocol.params import DEFAULT_SKETCH_K, DEFAULT_SLOTS


def _aggregator_key(ctx: CliContext, aggregator: str, text: str | None) -> bytes:
    """The key trainers will encrypt to: the one ``aggregator`` registered on chain (the
    Marketplace refuses any other); ``--aggregator-key``, when given, must be that one."""
    from market.encryption import check_public_key

    registered = ctx.marketplace.aggregator_key_of(aggregator)
    given = parse_hex32(text, "--aggregator-key must be the aggregator's X25519 public key: 64 hex digits") if text \
        else None
    if not any(registered):
        raise MarketValueError(f"the aggregator {aggregator} has registered no encryption key: it runs "
                               "`market aggregator register-key --key agg.key --from <aggregator>` first")
    if given is not None and given != registered:
        raise MarketValueError(f"--aggregator-key 0x{given.hex()} is not the key {aggregator} registered "
                               f"(0x{registered.hex()}): trainers could not reach the aggregator")
    return check_public_key(registered)


def _check_approved(ctx: CliContext, verifier: str) -> None:
    info = ctx.marketplace.verifier_info(verifier)
    if not info.approved:
        raise MarketValueError(f"the verifier {verifier} is not approved by the Marketplace's registrar "
                               f"({ctx.marketplace.registrar()}); `market deploy` approves the ones it deploys")


def _spec_from_flags(ctx: CliContext, model: str, epochs: int, learning_rate: float, batch_size: int,
                     detector: str, tau: float, root_set: Path | None = None, aggregator_key: bytes | None = None) -> str:
    """Build the digits task spec from flags, store its initial model and the spec; return the CID.
    With ``root_set`` the spec pays by the root-of-trust rule: the set (checked for class balance)
    is sealed to the aggregator's key and stored, and the spec commits to it."""
    from market.storage import open_storage
    from trainers.task_builder import digits_task_spec, store_task_spec  # torch only when a spec is built here

    spec = digits_task_spec(arch=model, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size,
                            detector=detector, tau=tau)
    if root_set is not None:
        spec = _with_root_set(ctx, spec, root_set, aggregator_key)
    spec, cid = store_task_spec(open_storage(ctx.config), spec)
    console.print(f"task spec {spec.name} stored: {cid} (initial model {spec.model.initial_model_cid})")
    return cid


def _with_root_set(ctx: CliContext, spec, path: Path, aggregator_key: bytes | None):
    """``spec`` paying by the reference rule over the root set in ``path`` (an .npz of X and y, in
    the spec's input shape and classes)."""
    import numpy as np

    from market.root_set import RootSet, RootSetError, seal_root_set
    from market.storage import open_storage
    from market.task_spec import ReferenceSection, ScoringSection

    if not aggregator_key:
        raise MarketValueError("--root-set needs --aggregator-key: the root set is sealed to the aggregator")
    with np.load(path, allow_pickle=False) as archive:
        if "y" not in archive.files:
            raise RootSetError(f"{path} holds no labels y")
        counts = np.bincount(archive["y"].astype(np.int64), minlength=spec.model.num_classes)
    root = RootSet.from_bytes(path.read_bytes(), input_shape=spec.data.input_shape,
                              num_classes=spec.model.num_classes, per_class=int(counts.max()))
    envelope, key, digest = seal_root_set(root, aggregator_key)
    cid = open_storage(ctx.config).put(envelope)
    console.print(f"root set sealed to the aggregator and stored: {cid} (sha256 {digest}; keep {path} to reveal it "
                  f"after finalize, so `market audit --root-set` recomputes every reference)")
    section = ReferenceSection(root_set_cid=cid, root_set_digest=digest, per_class=int(counts.max()))
    return spec.model_copy(update={"scoring": ScoringSection(**{**spec.scoring.model_dump(), "detector": "reference",
                                                                "reference": section})})


def _posted_spec(ctx: CliContext, spec_cid: str | None, spec_file: Path | None):
    """The spec given by --spec FILE or --spec-cid CID, checked as the trainers will use it: the
    CID parses and names content this node can read, the document is a valid spec (bounded, depth
    checked) and its model builds (a typo in the model's params fails here, not after start).
    None when the spec is built from flags."""
    from market.storage import ContentFault, open_storage
    from market.storage.unixfs import parse_cid
    from market.task_spec import MAX_SPEC_BYTES, TaskSpec
    from trainers.models import param_spec

    if spec_file is not None:
        raw, source = spec_file.read_bytes(), str(spec_file)
    elif spec_cid:
        try:
            parse_cid(spec_cid)
        except MarketError as exc:
            raise MarketValueError(f"--spec-cid {spec_cid!r}: {exc}") from None
        try:
            raw, source = open_storage(ctx.config).get(spec_cid, max_bytes=MAX_SPEC_BYTES), f"the spec {spec_cid}"
        except ContentFault as exc:
            raise MarketValueError(f"the spec {spec_cid} cannot be read ({exc}): trainers could not read it either; "
                                   "store it first (`market storage put spec.json`) or post with --spec FILE") from None
    else:
        return None
    spec = TaskSpec.from_json(raw)  # names a bad field
    try:
        param_spec(spec.model, dtype=spec.training.dtype)
    except Exception as exc:  # noqa: BLE001 - whatever the model builder raises, the spec is unusable
        raise MarketValueError(f"{source}: its model cannot be built ({type(exc).__name__}: {exc}); "
                               "`market trainer train-local --spec FILE` tries a spec without any chain") from None
    return spec


def _auto_verifier(ctx: CliContext, reference: bool, k: int, max_trainers: int) -> str:
    """What ``--verifier auto`` resolves to on this chain: the reference rule's recorded verifier, or
    the smallest recorded median-rule verifier (for the spec's k) with room for ``max_trainers``
    (none has: the default ``RoundVerifier``, which the fit check then refuses); 'none' (trusted
    mode, said so after posting) when nothing is deployed."""
    from zk.protocol.params import ROUND_VERIFIER, round_verifier_slots

    chain_id = ctx.chain.chain_id
    if not reference:
        sizes = round_verifier_slots(ctx.deployments.entry(chain_id), k=k)
        fitting = [n for n in sizes if n >= max_trainers]
        if fitting:
            return sizes[min(fitting)]
    try:
        return ctx.deployments.address(chain_id, "ReferenceRoundVerifier" if reference else ROUND_VERIFIER)
    except MarketError:
        return "none"


def _fitted_verifier(ctx: CliContext, verifier: str, reference: bool, spec, spec_cid: str, max_trainers: int) -> str:
    """The verifier to post with ('none' for trusted mode): 'auto' resolves to the recorded
    ReferenceRoundVerifier (root set) or RoundVerifier; a verifier must be approved by the
    registrar and fit the task (its N, k, tau: one source per parameter)."""
    from market.storage import open_storage
    from market.task_spec import MAX_SPEC_BYTES, TaskSpec

    if verifier.lower() == "auto":  # the verifier of the task's rule that this chain's deployment recorded
        verifier = _auto_verifier(ctx, reference, spec.scoring.sketch_k if spec is not None else DEFAULT_SKETCH_K,
                                  max_trainers)
    if verifier.lower() in {"none", "0", ""}:
        return "none"
    from zk.verifier_params import fit_task_to_verifier

    _check_approved(ctx, verifier)
    if spec is None:  # built from flags: read back what was stored
        spec = TaskSpec.from_json(open_storage(ctx.config).get(spec_cid, max_bytes=MAX_SPEC_BYTES))
    fit = fit_task_to_verifier(ctx.chain.web3, verifier, spec=spec, max_trainers=max_trainers)
    for line in fit.unchecked:
        console.print(f"[yellow]{line}[/]")
    fit.raise_if_misfit()
    return verifier


@click.command("post")
@click.option("--spec-cid", default=None, help="CID of the task spec already in storage.")
@click.option("--spec", "spec_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A task spec JSON file to validate and store (its CID is posted).")
@spec_flag_options
@click.option("--root-set", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Pay by the root-of-trust rule anchored on this class-balanced root set (.npz with X and y, the "
                   "same number of samples of every class), sealed to the aggregator's key; with a spec built from "
                   "flags or --spec FILE.")
@click.option("--aggregator", required=True, help="Address of the aggregator (wallet name or 0x address).")
@click.option("--aggregator-key", default=None,
              help="Aggregator's X25519 public key, hex (trainers encrypt to it); default and only choice: the key the "
                   "aggregator registered (`market aggregator register-key`).")
@click.option("--allow", "allowlist", default=None,
              help="Admission: only these accounts may join (comma-separated wallet names or 0x addresses).")
@click.option("--reward", type=AMOUNT, required=True, help="Reward to escrow, e.g. 1ether.")
@click.option("--stake", type=AMOUNT, default="0", show_default=True, help="Stake each trainer deposits.")
@click.option("--rounds", type=int, default=3, show_default=True)
@click.option("--min-trainers", type=int, default=2, show_default=True)
@click.option("--max-trainers", type=int, default=DEFAULT_SLOTS, show_default=True,
              help="At most the task's verifier's slots.")
@click.option("--join-window", type=DURATION, default="1h", show_default=True, help="Joining closes this long after posting.")
@click.option("--submission-window", type=DURATION, default="1h", show_default=True)
@click.option("--sketch-window", type=DURATION, default="10m", show_default=True)
@click.option("--publish-grace", type=DURATION, default="1h", show_default=True)
@click.option("--strikes-to-slash", type=int, default=2, show_default=True,
              help="Strikes after which a trainer's stake is slashed (to a burn address): rounds with a proven flag "
                   "and rounds it missed while others submitted; rejections never count.")
@click.option("--contest-window", type=DURATION, default="0s", show_default=True,
              help="After the last round is published, finalize waits this long so rejected trainers can still "
                   "contest (their nodes do it at once; a contest moves no money).")
@click.option("--verifier", default="auto", show_default=True,
              help="Round verifier address; 'auto' = the smallest RoundVerifier `market deploy` recorded with room for "
                   "--max-trainers (trusted mode when there is none); 'none' = trusted-aggregator mode (no proof checked).")
@from_option()
@password_file_option()
@pass_ctx
def post(ctx: CliContext, spec_cid, spec_file, model, epochs, learning_rate, batch_size, detector, tau, root_set,
         aggregator,
         aggregator_key, reward, stake, rounds, min_trainers, max_trainers, join_window, submission_window,
         sketch_window, publish_grace, strikes_to_slash, contest_window, verifier, sender, password_file,
         allowlist=None) -> None:
    """Post a task and escrow its reward (spec from --spec FILE, --spec-cid, or built from flags)."""
    from market.storage import open_storage

    if spec_cid and spec_file:
        raise MarketValueError("give --spec-cid CID or --spec FILE, not both")
    if root_set is not None and spec_cid:
        raise MarketValueError("--root-set writes its commitment into the spec: give --spec FILE or build the spec "
                               "from flags, not --spec-cid (a stored spec cannot change)")
    spec = _posted_spec(ctx, spec_cid, spec_file)
    agg = aggregator if aggregator.startswith("0x") else ctx.keystore.find(aggregator).address
    key = _aggregator_key(ctx, agg, aggregator_key)
    if spec_file is not None:
        if root_set is not None:  # the file's spec, committed to the sealed root set
            spec = _with_root_set(ctx, spec, root_set, key)
        spec_cid = open_storage(ctx.config).put(spec_file.read_bytes() if root_set is None else spec.to_json())
        console.print(f"task spec stored: {spec_cid}")
    elif not spec_cid:
        spec_cid = _spec_from_flags(ctx, model, epochs, learning_rate, batch_size, detector, tau, root_set, key)
    owner = ctx.signer(sender, password_file)
    reference = root_set is not None or (spec is not None and spec.scoring.reference is not None)
    verifier = _fitted_verifier(ctx, verifier, reference, spec, spec_cid, max_trainers)
    allowed = [a if a.startswith("0x") else ctx.keystore.find(a).address
               for a in (allowlist or "").split(",") if a.strip()]  # admission: only these may join
    config = TaskConfig(
        spec_cid=spec_cid, aggregator=agg, aggregator_key=key, allowlist_only=bool(allowed),
        verifier=ZERO_ADDRESS if verifier.lower() in {"none", "0", ""} else verifier, stake_wei=stake,
        join_deadline=ctx.chain.timestamp() + join_window, submission_window=submission_window,
        sketch_window=sketch_window, publish_grace=publish_grace, rounds=rounds, min_trainers=min_trainers,
        max_trainers=max_trainers, strikes_to_slash=strikes_to_slash, contest_window=contest_window,
    )
    task_id, result = ctx.marketplace.create_task(owner, config, reward)
    report(result, f"task [bold]{task_id}[/] posted with {ether(reward)} escrowed")
    if allowed:
        report(ctx.marketplace.allow_trainers(owner, task_id, allowed), f"{len(allowed)} accounts allowed to join")
    if config.verifier == ZERO_ADDRESS:
        console.print("[yellow]trusted-aggregator mode: scores are recorded without a proof[/]")
    console.print(task_id)
