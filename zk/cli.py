"""``market deploy``: the Marketplace and the round verifier (owned by ``zk``: it deploys the
Groth16 verifier of the default round circuit), and ``market verifier approve`` for a verifier
deployed later (the registrar only)."""

from __future__ import annotations

from pathlib import Path

import click

from market.cli.context import CliContext, console, pass_ctx, progress
from market.cli.options import from_option, parse_int_list, password_file_option
from market.marketplace import Marketplace
from zk.protocol.params import (
    DEFAULT_SKETCH_K,
    DEFAULT_SLOTS,
    DEFAULT_TAU,
    MAX_SLOTS,
    ROUND_VERIFIER,
    round_verifier_name,
)
from zk.protocol.rule import tau_fraction


@click.command("deploy")
@click.option("--zk/--no-zk", default=True, show_default=True,
              help="Also deploy the round verifier (Groth16, development key), the default verifier of new tasks.")
@click.option("--rule", type=click.Choice(["median", "reference", "both"]), default="median", show_default=True,
              help="Which rule's verifier: the median rule's (RoundVerifier, for specs without a root set) or the "
                   "root-of-trust rule's (ReferenceRoundVerifier, for `task post --root-set`; its first key setup "
                   "takes a few minutes).")
@click.option("--slots", default=str(DEFAULT_SLOTS), show_default=True, metavar="N[,N…]",
              help="Trainer slots of the median rule's RoundVerifier, one per size (e.g. 4,16): `task post` picks "
                   "the smallest that fits the task's --max-trainers. Each size's key is made once.")
@from_option(default="dev:0", show_default=True)
@password_file_option()
@pass_ctx
def deploy(ctx: CliContext, zk: bool, rule: str, slots: str, sender: str, password_file: Path | None) -> None:
    """Deploy the Marketplace (and the round verifier) and record the addresses for this chain.
    The deployer is the Marketplace's registrar: it approves the verifiers deployed here (tasks may
    name only approved verifiers)."""
    slots = _slot_sizes(slots)
    deployer = ctx.signer(sender, password_file)
    market = Marketplace.deploy(ctx.chain, deployer)
    block = ctx.chain.block_number()
    ctx.deployments.record(ctx.chain.chain_id, "Marketplace", market.address, block=block, deployer=deployer.address,
                           fresh=True)  # the verifiers recorded before belong to the previous Marketplace
    console.print(f"Marketplace deployed at [bold]{market.address}[/] on {ctx.chain.describe()}")
    if zk and rule in ("reference", "both"):
        _deploy_reference(ctx, market, deployer, block)
    if zk and rule in ("median", "both"):
        for n in sorted(set(slots)):
            _deploy_round(ctx, market, deployer, block, n, default=n == max(slots))
    console.print(f"recorded in {ctx.deployments.path}")


def _slot_sizes(text: str) -> list[int]:
    sizes = parse_int_list(text, "--slots")
    if not sizes or any(not 2 <= n <= MAX_SLOTS for n in sizes):
        raise click.BadParameter(f"{text!r}: give slot counts from 2 to {MAX_SLOTS}, comma-separated (e.g. 4,16)",
                                 param_hint="--slots")
    return sizes


def _deploy_round(ctx: CliContext, market: Marketplace, deployer, block: int, n: int, *, default: bool) -> None:
    """The median rule's verifier for ``n`` trainer slots, approved and recorded as
    ``RoundVerifier<n>x<k>`` (and as ``RoundVerifier``, the fallback of `task post`, when ``default``)."""
    from zk.deploy import deploy_round_verifier  # groth16py only when asked
    from zk.round_circuit import RoundShape

    shape = RoundShape(n, DEFAULT_SKETCH_K)
    with progress(_key_step(shape, "about a minute" if n <= DEFAULT_SLOTS else "several minutes")):
        num, den = tau_fraction(DEFAULT_TAU)
        verifier = deploy_round_verifier(ctx.chain, deployer, n=n, k=DEFAULT_SKETCH_K, tau_num=num, tau_den=den,
                                         log=console.print)
    market.approve_verifier(deployer, verifier)
    for name in (round_verifier_name(n, DEFAULT_SKETCH_K), *([ROUND_VERIFIER] if default else [])):
        ctx.deployments.record(ctx.chain.chain_id, name, verifier, block=block, deployer=deployer.address)
    console.print(f"RoundVerifier ({n} trainers, k={DEFAULT_SKETCH_K}, tau {DEFAULT_TAU:g}, DEVELOPMENT key) "
                  f"deployed at [bold]{verifier}[/]")


def _key_step(shape, first_time: str) -> str:
    """What the verifier deployment waits on: loading the cached development key, or making it."""
    from zk.keys import has_development_key

    if has_development_key(shape):
        return f"loading the cached DEVELOPMENT key of the circuit {shape.name} and deploying its verifier"
    return (f"making the DEVELOPMENT key of the circuit {shape.name} (a single-party setup, once: {first_time} on 2 cores; "
            "cached for every later deploy, prover and audit) and deploying its verifier")


def _deploy_reference(ctx: CliContext, market: Marketplace, deployer, block: int) -> None:
    """The root-of-trust rule's verifier at the default shape and parameters, approved by the
    deployer (the Marketplace's registrar)."""
    from zk.deploy import deploy_reference_verifier  # groth16py only when asked
    from zk.protocol.reference_rule import ReferenceRuleParams
    from zk.reference_circuit import ReferenceShape

    params = ReferenceRuleParams()
    shape = ReferenceShape(DEFAULT_SLOTS, DEFAULT_SKETCH_K, params.h_num, params.h_den)
    with progress(_key_step(shape, "a few minutes")):
        deployment = deploy_reference_verifier(ctx.chain, deployer, shape=shape, params=params, log=console.print)
    market.approve_verifier(deployer, deployment.address)
    ctx.deployments.record(ctx.chain.chain_id, "ReferenceRoundVerifier", deployment.address, block=block,
                           deployer=deployer.address)
    console.print(f"ReferenceRoundVerifier ({shape.n} trainers, k={shape.k}, h={params.h}, DEVELOPMENT key) "
                  f"deployed at [bold]{deployment.address}[/]")
