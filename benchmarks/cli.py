"""``market demo``: the whole market in one command (embedded chain and store by default)."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from benchmarks.records import DemoResult
from market.cli.context import CliContext, console, pass_ctx
from market.cli.options import AMOUNT
from market.task_spec import DEFAULT_LOCAL_EPOCHS
from market.units import ether


@click.command("demo")
@click.option("--trainers", type=int, default=8, show_default=True)
@click.option("--rounds", type=int, default=5, show_default=True)
@click.option("--epochs", type=int, default=DEFAULT_LOCAL_EPOCHS, show_default=True, help="Local epochs per round.")
@click.option("--reward", type=AMOUNT, default="1ether", show_default=True)
@click.option("--stake", type=AMOUNT, default="0.01ether", show_default=True)
@click.option("--attack", "attacks", multiple=True,
              help="An attacker's plan (repeat); default: sign_flip:scale=3 and gaussian_noise:sigma=0.5.")
@click.option("--unreliable", multiple=True, help="An unreliable trainer's plan (repeat); default: unreliable:noisy_labels=0.8.")
@click.option("--honest-only", is_flag=True, help="No attackers and no unreliable trainers.")
@click.option("--alpha", type=float, default=0.5, show_default=True, help="Dirichlet alpha of the data shares.")
@click.option("--rule", type=click.Choice(["reference", "median"]), default="reference", show_default=True,
              help="The paid rule: the root-of-trust rule (anchored on the owner's class-balanced root set) or the "
                   "median-distance rule (no root set).")
@click.option("--tau", type=float, default=4.0, show_default=True, help="Outlier threshold of the median rule.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default=None, help="Trainers' device (default: cuda when available).")
@click.option("--ipfs-api", default=None, help="Use a kubo node's RPC API instead of the embedded store.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("out/demo"),
              show_default=True, help="Where the plots go.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write every number as JSON here.")
@click.option("--trusted", is_flag=True, help="No proofs: run the task in trusted-aggregator mode.")
@click.option("--no-audit", is_flag=True, help="Skip the closing audit (market audit of every round).")
@click.option("--verbose", is_flag=True, help="Log every step of the aggregator.")
@pass_ctx
def cli(ctx: CliContext, trainers, rounds, epochs, reward, stake, attacks, unreliable, honest_only, alpha, rule, tau,
        seed, device, ipfs_api, out_dir, json_path, trusted, no_audit, verbose) -> None:
    """Run a whole market: deploy, post a digits task, N trainers (some attackers), R rounds, payout."""
    from benchmarks.simulation import DEFAULT_ATTACKS, DEFAULT_UNRELIABLE, DemoOptions, run_demo

    options = DemoOptions(
        trainers=trainers, rounds=rounds, epochs=epochs, reward_wei=reward, stake_wei=stake,
        attacks=() if honest_only else (attacks or DEFAULT_ATTACKS),
        unreliable=() if honest_only else (unreliable or DEFAULT_UNRELIABLE),
        alpha=alpha, rule=rule, tau=tau, seed=seed, device=device, ipfs_api=ipfs_api, zk=not trusted, audit=not no_audit,
        rpc_url=ctx.config.rpc_url if ctx.config.rpc_url not in (None, "", "embedded") else None,
    )
    with console.status("running the market…") as status:
        def log(message: str) -> None:
            if verbose:
                console.print(message)
            status.update(message)

        result = run_demo(options, log=log)

    console.print(_rounds_table(result))
    console.print(_trainers_table(result))
    paid = sum(t.payout_wei for t in result.trainers)
    total = paid + result.withheld_wei + result.dust_wei
    console.print(f"reward {ether(result.reward_wei)}: paid {paid} wei + withheld for rejected/flagged slots "
                  f"{result.withheld_wei} wei + dust {result.dust_wei} wei = {total} wei "
                  f"({'exact' if total == result.reward_wei else 'MISMATCH'})")
    console.print(f"final accuracy on the digits test split: [bold]{result.final_accuracy:.3f}[/]  "
                  f"({result.seconds:.0f}s on {result.chain}; contract holds {result.contract_balance_after} wei)")
    _save(result, out_dir, json_path)
    failed = [r.round for r in result.rounds if r.audit is not None and not r.audit.ok]
    if failed:
        console.print(f"[red]the audit does not reproduce round(s) {', '.join(map(str, failed))}[/]")
        raise SystemExit(1)


def _marks(bits: list[bool]) -> str:
    """The slots whose bit is set, ``-`` for none."""
    return ",".join(str(i) for i, b in enumerate(bits) if b) or "-"


def _rounds_table(result: DemoResult) -> Table:
    """Accuracy, flags, rejections, gas, proof and audit of every round."""
    table = Table(title=f"task {result.task_id}: accuracy per round (validation set)")
    columns = ["round", "accuracy", "flagged", "rejected", "publishRound gas", "proof"]
    audited = result.audited
    for col in columns + (["audit"] if audited else []):
        table.add_column(col, justify="right")
    for r in result.rounds:
        proof = ("verified" if r.verified_on_chain else "trusted")
        if r.proof_seconds is not None:
            proof += f" ({r.proof_seconds:.1f}s)"
        cells = [str(r.round), f"{r.accuracy:.3f}", _marks(r.flags), _marks(r.rejections), f"{r.publish_gas:,}", proof]
        if audited:
            audit = r.audit
            cells.append(f"[green]{audit.checks} checks ok[/]" if audit.ok
                         else f"[red]FAILED: {'; '.join(audit.failed)}[/]")
        table.add_row(*cells)
    return table


def _trainers_table(result: DemoResult) -> Table:
    """Per trainer: kind, flags per round, proven score, Shapley, payout, stake."""
    table = Table(title="trainers")
    for col in ("slot", "kind", "flags per round", "proven share", "Shapley (GTG)", "payout", "stake"):
        table.add_column(col)
    total = sum(t.score_total for t in result.trainers) or 1
    for t in result.trainers:
        per_round = "".join("F" if r in t.flagged_rounds else ("R" if r in t.rejected_rounds else ".")
                            for r in range(len(result.rounds)))
        stake_text = "returned" if t.stake_slashed_wei == 0 else "slashed"
        table.add_row(str(t.slot), t.kind, per_round, f"{t.score_total / total:.1%}", f"{t.shapley:+.3f}",
                      ether(t.payout_wei), stake_text)
    return table


def _save(result: DemoResult, out_dir: Path, json_path: Path | None) -> None:
    """The two plots into ``out_dir``; every number as JSON into ``json_path`` when given."""
    from benchmarks.plots import plot_accuracy, plot_contribution_vs_payout

    out_dir.mkdir(parents=True, exist_ok=True)
    a = plot_accuracy(result.rounds, result.final_accuracy, out_dir / "accuracy.png")
    b = plot_contribution_vs_payout(result.trainers, result.reward_wei, out_dir / "contribution_vs_payout.png")
    console.print(f"plots: {a}, {b}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_json(), indent=1))
        console.print(f"numbers: {json_path}")
