"""Reference study: the root-of-trust rule (:mod:`zk.protocol.reference_rule`) against the old
median rule (:func:`zk.protocol.rule.provable_round`, τ = 4) on the digits task (issue 11 §2–3).

Protocol. 10 trainers on IID or Dirichlet(0.5) shares of the digits training split, 5 rounds.
The root set is a class-balanced sample of the validation split (10 per class); each round's
reference is :func:`~benchmarks.kit.local_update` on it from the round's global model with no
attack. Every update and the reference are sketched with
:func:`~zk.protocol.sketch.sketch_update` (``SketchParams()``, the round's seed); the rule's
accepted set G is aggregated by FedAvg (sample-weighted) into the next global model. Each rule
follows its own trajectory (the median arm only where marked); the rule's variants (h,
thresholds) are re-scored on the default trajectory's submissions. Scenarios: clean; mixed
quality (4 clean, noisy labels 50 % and 80 %, 10 % and 20 % of a share, a free-rider and a
label-flipper); the last ⌊f·10⌋ trainers attacking at f = 30 %, 45 % with the simulators of
``trainers/attacks`` or, omniscient and local to this study, a coordinate-wise mean − std mimic
or IPM (−0.5 · mean) of the honest updates, each attacker adding its own N(0, (0.1 · rms)²) so
that the duplicate flag does not catch identical copies; sybils: slot 0 honest and slots
1 … k − 1 its update plus N(0, (10⁻³ · rms)²). Paid share = Σ score over the attackers ÷ Σ score
over everyone (all rounds); the clean false-flag rate counts flagged clean trainer-rounds;
sybil inflation = the k identities' total pay ÷ slot 0's pay in the same rounds with the copies
absent. Fidelity (mixed scenario): Spearman ρ of the per-trainer paid totals against exact
loss-Shapley (U(S) = − validation loss of the global model plus the FedAvg of S, 2¹⁰
coalitions), beside the split-half noise floor (ρ between exact Shapley on two class-balanced
halves of the validation split). "h fitted" picks h each round so that the game, scaled once,
matches the root-set loss drop of both the reference and the equal-weight mean of G.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from aggregator.aggregation import apply_to, fedavg
from aggregator.scoring import exact_shapley, fedavg_subset_utility
from benchmarks.common import Section, Table, protocol_text
from benchmarks.kit import digits_task, local_update, round_seed, shares
from benchmarks.reference_arm import reference_update, root_set, validation_halves
from trainers.attacks import AttackPlan
from trainers.data import Dataset
from trainers.models import build_model, load_state
from trainers.training import evaluate
from zk.protocol.reference_rule import FlagReason, ReferenceRuleParams, reference_round
from zk.protocol.rule import provable_round, tau_fraction
from zk.protocol.sketch import SketchParams, sketch_update

COMMAND = "python scripts/bench_reference_study.py"
N = 10
ATTACKS = ("sign_flip", "label_flip", "free_rider", "gaussian_noise", "scaling", "mimic", "ipm")
OMNISCIENT = ("mimic", "ipm")
MIXED = [("clean", None, 1.0)] * 4 + [
    ("noisy labels 50 %", "unreliable:noisy_labels=0.5", 1.0), ("noisy labels 80 %", "unreliable:noisy_labels=0.8", 1.0),
    ("small data 10 %", None, 0.1), ("small data 20 %", None, 0.2), ("free_rider", "free_rider", 1.0),
    ("label_flip", "label_flip", 1.0)]
OFF = (1 << 32) - 1
_P = ReferenceRuleParams
VARIANTS: dict[str, ReferenceRuleParams] = {  # each one change from the rule's defaults
    "default": _P(), "h ≈ 0": _P(h_num=1, h_den=OFF), "h = 1/8": _P(h_num=1, h_den=8), "h = 1/4": _P(h_num=1, h_den=4),
    "h = 1": _P(h_num=1, h_den=1), "h = 2": _P(h_num=2, h_den=1), "h fitted": _P(),
    "γ = 0.02": _P(cos_num=1, cos_den=50), "γ = 0.05": _P(cos_num=1, cos_den=20), "γ = 0.1": _P(cos_num=1, cos_den=10),
    "γ = 0.2": _P(cos_num=1, cos_den=5), "β = 2": _P(norm_num=2, norm_den=1), "β = 3": _P(norm_num=3, norm_den=1),
    "β = 6": _P(norm_num=6, norm_den=1), "β off": _P(norm_num=OFF, norm_den=1), "δ = 0.95": _P(dup_num=19, dup_den=20),
    "δ = 0.999": _P(dup_num=999, dup_den=1000),
    "δ off": _P(dup_num=2, dup_den=1), "δ off, h = 1": _P(dup_num=2, dup_den=1, h_num=1, h_den=1),
    "δ off, h = 1/4": _P(dup_num=2, dup_den=1, h_num=1, h_den=4)}
RULES = ("median", *VARIANTS)


@dataclass(frozen=True)
class Scenario:
    name: str
    partition: str
    kinds: tuple[str, ...]
    plans: tuple[str | None, ...]
    keep: tuple[float, ...]
    attackers: frozenset[int]
    sybils: int = 0
    shapley: bool = False
    median_arm: bool = False


def scenarios(partition: str, quick: bool = False) -> list[Scenario]:
    """The study's scenarios on one partition (quick: clean, mixed, two attacks, one sybil group)."""
    out = [Scenario("clean", partition, ("clean",) * N, (None,) * N, (1.0,) * N, frozenset(), median_arm=True),
           Scenario("mixed", partition, tuple(t[0] for t in MIXED), tuple(t[1] for t in MIXED),
                    tuple(t[2] for t in MIXED), frozenset({8, 9}), shapley=True)]
    attacks = ("sign_flip", "mimic") if quick else ATTACKS
    for f in (0.45,) if quick else (0.30, 0.45):
        bad = int(f * N)
        for a in attacks:
            kinds = ("clean",) * (N - bad) + (a,) * bad
            plans = (None,) * (N - bad) + ((None if a in OMNISCIENT else a),) * bad
            out.append(Scenario(f"{a} {f:.0%}", partition, kinds, plans, (1.0,) * N,
                                frozenset(range(N - bad, N)), median_arm=f > 0.4))
    for k in (2,) if quick else (2, 4):
        kinds = ("sybil original",) + ("sybil copy",) * (k - 1) + ("clean",) * (N - k)
        out.append(Scenario(f"sybils k = {k}", partition, kinds, (None,) * N, (1.0,) * N,
                            frozenset(range(1, k)), sybils=k))
    return out


@dataclass
class Context:
    """The task, the trainers' data, the root set and the loss evaluators of one partition."""

    task: Any
    base: list[Dataset]
    root: Dataset
    halves: tuple[Dataset, Dataset]
    model: Any = None

    def loss(self, state: dict[str, np.ndarray], data: Dataset) -> float:
        load_state(self.model, state)
        return float(evaluate(self.model, data)[0])


def make_context(partition: str, seed: int) -> Context:
    task = digits_task(seed)
    model = build_model(task.spec.model, dtype=task.spec.training.dtype, init=False)
    for p in model.parameters():
        p.requires_grad_(False)  # evaluation only: no autograd graph
    return Context(task, shares(task, N, partition), root_set(task, seed), validation_halves(task, seed),
                   model)


@dataclass
class Trace:
    """What one trajectory accumulates: per rule per slot, pay and flagged rounds; exact Shapley."""

    pay: dict[str, np.ndarray] = field(default_factory=lambda: {r: np.zeros(N) for r in RULES})
    flags: dict[str, np.ndarray] = field(default_factory=lambda: {r: np.zeros(N, int) for r in RULES})
    alone: dict[str, float] = field(default_factory=lambda: dict.fromkeys(RULES, 0.0))
    exact: dict[str, np.ndarray] = field(default_factory=lambda: {h: np.zeros(N) for h in ("full", "a", "b")})
    reasons: dict[str, int] = field(default_factory=dict)
    fitted_h: list[float] = field(default_factory=list)
    geometry: list[tuple[int, float, float]] = field(default_factory=list)  # (slot, cos with r, ‖s‖ / ‖r‖)
    accuracy: float = 0.0


def _flat(u: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([np.asarray(u[k], np.float64).reshape(-1) for k in sorted(u)])


def _like(template: dict[str, np.ndarray], flat: np.ndarray) -> dict[str, np.ndarray]:
    out, at = {}, 0
    for k in sorted(template):
        size = template[k].size
        out[k] = flat[at:at + size].reshape(template[k].shape).astype(template[k].dtype)
        at += size
    return {k: out[k] for k in template}


def _submissions(ctx: Context, sc: Scenario, data: list[Dataset], state, r: int, seed: int):
    """Every slot's ``(update, samples)``: trained with its plan, or derived (omniscient, sybil)."""
    rng = np.random.default_rng([seed, r, 17])
    subs: list[Any] = [None] * N
    for i in range(N):
        if sc.kinds[i] not in OMNISCIENT and sc.kinds[i] != "sybil copy":
            plan = AttackPlan.parse(sc.plans[i], seed=seed + i)
            subs[i] = local_update(ctx.task, state, data[i], plan, trainer_seed=seed + i, round_=r)[:2]
    honest = np.array([_flat(subs[i][0]) for i in range(N) if i not in sc.attackers])
    mu, sigma = honest.mean(axis=0), honest.std(axis=0)
    samples = int(np.mean([subs[i][1] for i in range(N) if i not in sc.attackers]))
    template = subs[0][0]
    for i in range(N):
        kind = sc.kinds[i]
        if kind in OMNISCIENT:
            v = mu - sigma if kind == "mimic" else -0.5 * mu
            v = v + rng.normal(0.0, 0.1 * np.sqrt(np.mean(v * v)), v.shape)
            subs[i] = (_like(template, v), samples)
        elif kind == "sybil copy":
            v = _flat(subs[0][0])
            subs[i] = (_like(template, v + rng.normal(0.0, 1e-3 * np.sqrt(np.mean(v * v)), v.shape)), subs[0][1])
    return subs


def _fit_h(ctx: Context, state, ref_update, subs, accepted, sk, ref_sk) -> ReferenceRuleParams:
    """h such that λ(⟨m, r⟩ − (h/2)‖m‖²) matches the root-loss drop at m = r and at m = m_G."""
    members = [i for i in range(N) if accepted[i]]
    if not members:
        return VARIANTS["default"]
    base = ctx.loss(state, ctx.root)
    d_r = base - ctx.loss(apply_to(state, ref_update), ctx.root)
    mean = _like(ref_update, np.mean([_flat(subs[i][0]) for i in members], axis=0))
    d_g = base - ctx.loss(apply_to(state, mean), ctx.root)
    m = np.mean([np.asarray(sk[i], float) for i in members], axis=0)
    r = np.asarray(ref_sk, float)
    x, y, rho = float(m @ r), float(m @ m), float(r @ r)
    q = d_g / d_r if d_r > 0 else 0.0
    h = 2 * (q * rho - x) / (q * rho - y) if d_r > 0 and q * rho != y else 1.0
    h = Fraction(min(max(h, 1e-3), 100.0) if np.isfinite(h) and h > 0 else 1.0).limit_denominator(1000)
    return ReferenceRuleParams(h_num=h.numerator, h_den=h.denominator)


def _rule_scores(rule: str, sketches, ref_sk, fitted: ReferenceRuleParams | None, reasons: dict[str, int] | None):
    """``(scores, flags)`` of one rule (``"median"`` or a :data:`VARIANTS` name)."""
    if rule == "median":
        tau = tau_fraction(4.0)
        old = provable_round(sketches, tau_num=tau[0], tau_den=tau[1], k=len(ref_sk))
        return old.scores, old.flags
    params = fitted if rule == "h fitted" and fitted is not None else VARIANTS[rule]
    out = reference_round(sketches, reference=ref_sk, params=params)
    for reason in out.reasons if reasons is not None else ():
        if reason is not FlagReason.NONE:
            reasons[reason.name] = reasons.get(reason.name, 0) + 1
    return out.scores, out.flags


def _score(trace: Trace, sc: Scenario, sk, ref_sk, fitted: ReferenceRuleParams | None, rules) -> None:
    """Every rule's pay and flags on this round's sketches; the sybils' alone baseline."""
    alone_sk = [None if 0 < i < sc.sybils else s for i, s in enumerate(sk)]
    for rule in rules:
        scores, flags = _rule_scores(rule, sk, ref_sk, fitted, trace.reasons if rule == "default" else None)
        trace.pay[rule] += np.array(scores, float)
        trace.flags[rule] += np.array(flags, int)
        if sc.sybils:
            trace.alone[rule] += float(_rule_scores(rule, alone_sk, ref_sk, fitted, None)[0][0])


def _exact(ctx: Context, trace: Trace, state, subs) -> None:
    vectors, weights = [_flat(u) for u, _ in subs], [s for _, s in subs]
    template = subs[0][0]
    for key, data in (("full", ctx.task.validation), ("a", ctx.halves[0]), ("b", ctx.halves[1])):
        utility = fedavg_subset_utility(updates=vectors, weights=weights,
                                        evaluate=lambda mean, d=data: -ctx.loss(apply_to(state, _like(template, mean)), d))
        trace.exact[key] += exact_shapley(N, utility)


def run_scenario(ctx: Context, sc: Scenario, *, arm: str, rounds: int, seed: int) -> Trace:
    """One trajectory: the global model follows ``arm`` (``"median"`` or a :data:`VARIANTS` name,
    whose accepted set G is aggregated; every variant is re-scored on its submissions)."""
    data = [d if keep == 1.0 else d.subset(np.arange(max(8, int(keep * len(d))))) for d, keep in zip(ctx.base, sc.keep)]
    state = {k: v.copy() for k, v in ctx.task.initial.items()}
    trace, params = Trace(), SketchParams()
    rules = ("median",) if arm == "median" else RULES
    for r in range(rounds):
        subs = _submissions(ctx, sc, data, state, r, seed)
        ref_update = reference_update(ctx.task, state, ctx.root, r)
        sketch_seed = round_seed("reference-study", sc.name, sc.partition, r)
        sk = [list(sketch_update(u, sketch_seed, params)) for u, _ in subs]
        ref_sk = list(sketch_update(ref_update, sketch_seed, params))
        if arm == "median":
            tau = tau_fraction(4.0)
            accepted = provable_round(sk, tau_num=tau[0], tau_den=tau[1]).accepted
            fitted = None
        else:
            accepted = reference_round(sk, reference=ref_sk, params=VARIANTS[arm]).accepted
            fitted = _fit_h(ctx, state, ref_update, subs, accepted, sk, ref_sk)
            trace.fitted_h.append(float(fitted.h))
            r_vec = np.asarray(ref_sk, float)
            for i, v in enumerate(np.asarray(sk, float)):
                norm = float(np.linalg.norm(v) * np.linalg.norm(r_vec)) or 1.0
                trace.geometry.append((i, float(v @ r_vec) / norm, float(np.linalg.norm(v) / np.linalg.norm(r_vec))))
        _score(trace, sc, sk, ref_sk, fitted, rules)
        if sc.shapley and arm != "median":
            _exact(ctx, trace, state, subs)
        chosen = [subs[i] for i in range(N) if accepted[i]]
        if chosen:
            state = apply_to(state, fedavg((float(s), u) for u, s in chosen))
    trace.accuracy = float(ctx.task.evaluator("test")(state))
    return trace


def _spearman(a, b) -> float | None:
    from scipy.stats import spearmanr

    return None if np.ptp(a) == 0 or np.ptp(b) == 0 else float(spearmanr(a, b).statistic)


def _share(pay: np.ndarray, slots) -> float:
    total = float(pay.sum())
    return float(pay[sorted(slots)].sum()) / total if total else 0.0


def _clean_ff(trace: Trace, sc: Scenario, rule: str, rounds: int) -> float:
    clean = [i for i in range(N) if sc.kinds[i] == "clean"]
    return float(trace.flags[rule][clean].sum()) / (len(clean) * rounds)


def _inflation(trace: Trace, sc: Scenario, rule: str) -> float | None:
    alone = trace.alone[rule]
    return float(trace.pay[rule][: sc.sybils].sum()) / alone if alone else None


def _f(v: float | None, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def summarise(sc: Scenario, trace: Trace, median: Trace | None, rounds: int) -> dict[str, Any]:
    """The numbers of one scenario, JSON-ready."""
    rules = {rule: {"attackers_share": _share(trace.pay[rule], sc.attackers), "clean_ff": _clean_ff(trace, sc, rule, rounds),
                    "inflation": _inflation(trace, sc, rule)} for rule in RULES}
    out: dict[str, Any] = {"name": sc.name, "partition": sc.partition, "kinds": sc.kinds, "attackers": sorted(sc.attackers),
                           "accuracy": trace.accuracy, "rules": rules, "reasons": trace.reasons,
                           "fitted_h": trace.fitted_h, "pay": {r: v.tolist() for r, v in trace.pay.items()},
                           "flags": {r: v.tolist() for r, v in trace.flags.items()},
                           "geometry": [(sc.kinds[i], c, q) for i, c, q in trace.geometry]}
    if median is not None:
        out["median_arm"] = {"accuracy": median.accuracy, "attackers_share": _share(median.pay["median"], sc.attackers),
                             "clean_ff": _clean_ff(median, sc, "median", rounds)}
    if sc.shapley:
        ex = trace.exact
        out["exact"] = {k: v.tolist() for k, v in ex.items()}
        out["rho"] = {rule: _spearman(trace.pay[rule], ex["full"]) for rule in RULES}
        out["rho_floor"] = _spearman(ex["a"], ex["b"])
        out["rho_ceiling"] = _spearman(np.maximum(ex["full"], 0.0), ex["full"])
    return out


def _tables(results: list[dict[str, Any]], rounds: int) -> list[Table]:
    main = Table(f"Reference rule vs median rule ({N} trainers, {rounds} rounds)",
                 ["scenario", "partition", "accuracy (reference)", "accuracy (median arm)", "attackers' paid share",
                  "… median rule", "clean false flags", "… median rule", "flag reasons (reference)"])
    for s in results:
        d, m = s["rules"]["default"], s["rules"]["median"]
        arm = s.get("median_arm")
        main.add(s["name"], s["partition"], f"{s['accuracy']:.3f}", _f(arm and arm["accuracy"], ".3f"),
                 f"{d['attackers_share']:.1%}" if s["attackers"] else "—", f"{m['attackers_share']:.1%}" if s["attackers"] else "—",
                 f"{d['clean_ff']:.1%}", f"{m['clean_ff']:.1%}", ", ".join(f"{k} {v}" for k, v in sorted(s["reasons"].items())) or "none")
    main.notes.append("The median rule's share and flags are on the reference trajectory's submissions; its own arm "
                      "(where run) gives its accuracy.")
    fid = Table("Fidelity on the mixed scenario: Spearman ρ of paid totals vs exact loss-Shapley",
                ["partition", "reference (default)", "reference (h fitted)", "median rule", "noise floor (halves)",
                 "ceiling of a pay ≥ 0"])
    var = Table("Variants (re-scored on the default trajectories)",
                ["variant", "max attackers' share (45 %)", "mean attackers' share (30 %, 45 %)", "clean false flags",
                 "ρ mixed (per partition)", "sybil inflation k = 2 / 4 (IID, then Dirichlet)"])
    for s in results:
        if "rho" in s:
            r = s["rho"]
            fid.add(s["partition"], _f(r["default"]), _f(r["h fitted"]), _f(r["median"]), _f(s["rho_floor"]),
                    _f(s["rho_ceiling"]))
    fid.notes.append("Ceiling: ρ(max(0, exact), exact), the best any non-negative pay can reach against signed values.")
    attacks = [s for s in results if s["attackers"] and s["name"] != "mixed" and not s["name"].startswith("sybil")]
    for rule in RULES:
        high = [s["rules"][rule]["attackers_share"] for s in attacks if s["name"].endswith("45%")]
        every = [s["rules"][rule]["attackers_share"] for s in attacks]
        ff = np.mean([s["rules"][rule]["clean_ff"] for s in results if not s["name"].startswith("sybil")])
        rhos = " / ".join(_f(s["rho"][rule]) for s in results if "rho" in s)
        infl = " / ".join(_f(s["rules"][rule]["inflation"]) for s in results if s["name"].startswith("sybil"))
        var.add(rule, _f(max(high, default=None), ".1%"), _f(float(np.mean(every)) if every else None, ".1%"),
                f"{ff:.1%}", rhos, infl)
    fitted = [h for s in results for h in s["fitted_h"]]
    if fitted:
        var.notes.append(f"h fitted per round: median {np.median(fitted):.3g}, range {min(fitted):.3g} … {max(fitted):.3g}.")
    return [main, fid, var]


def run(*, quick: bool = False, out: Path, seed: int = 0, rounds: int | None = None, partition: str = "both",
        only: str = "", trajectory: str = "default", **_: Any) -> Section:
    started = time.perf_counter()
    rounds = rounds or (2 if quick else 5)
    results = []
    for part in ("iid", "dirichlet") if partition == "both" else (partition,):
        ctx = make_context(part, seed)
        for sc in scenarios(part, quick):
            if only and not any(sc.name.startswith(o.strip()) for o in only.split(",")):
                continue
            trace = run_scenario(ctx, sc, arm=trajectory, rounds=rounds, seed=seed)
            median = run_scenario(ctx, sc, arm="median", rounds=rounds, seed=seed) if sc.median_arm else None
            results.append(summarise(sc, trace, median, rounds))
            print(f"{part:9s} {sc.name:22s} {time.perf_counter() - started:7.1f} s", flush=True)
    return Section(key="reference_study", title="Reference rule study (issue 11 §2–3)", command=COMMAND,
                   notes=[protocol_text(__doc__)], tables=_tables(results, rounds),
                   seconds=time.perf_counter() - started, data={"rounds": rounds, "scenarios": results})


def run_to_markdown(*, markdown: Path | None = None, **options: Any) -> Section:
    """:func:`run`, and the section also written as Markdown to ``markdown`` when given."""
    section = run(**options)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(section.to_markdown())
        print(f"markdown: {markdown}", file=sys.stderr)
    return section
