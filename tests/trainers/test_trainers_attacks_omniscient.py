"""Omniscient attacks, the sybil member and the backdoor trigger: each changes the update (or the
data) the way it claims, and refuses to run without the context it needs."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from trainers.attacks import ATTACKS, AttackContext, AttackContextError, AttackPlan, MinMax, MinSum
from trainers.attacks.omniscient import flatten, unflatten
from trainers.data import Dataset, load_digits_dataset
from trainers.exceptions import AttackSpecError

KEYS = ("w", "b")  # not sorted: the attacks flatten in sorted order and must give this order back
SHAPES = {"w": (3, 4), "b": (2,)}


def _update(rng: np.random.Generator, dtype: type = np.float64, shift: float = 0.0) -> dict[str, np.ndarray]:
    return {k: (shift + rng.standard_normal(SHAPES[k])).astype(dtype) for k in KEYS}


def _honest(n: int = 6, seed: int = 0, dtype: type = np.float64) -> tuple[dict[str, np.ndarray], ...]:
    rng = np.random.default_rng(seed)
    return tuple(_update(rng, dtype, shift=0.5) for _ in range(n))


def _vec(update: Mapping[str, np.ndarray]) -> np.ndarray:
    return flatten(update, sorted(update))


def _mu_sigma(honest: tuple[dict[str, np.ndarray], ...]) -> tuple[np.ndarray, np.ndarray]:
    G = np.stack([_vec(u) for u in honest])
    return G.mean(axis=0), G.std(axis=0, ddof=1)


def _run(text: str, honest: tuple[dict[str, np.ndarray], ...], **context: object) -> dict[str, np.ndarray]:
    delta = _update(np.random.default_rng(99), honest[0]["w"].dtype.type)
    out = AttackPlan.parse(text, seed=3).apply_update(delta, AttackContext(honest_updates=honest, **context))
    assert list(out) == list(KEYS) and all(out[k].shape == SHAPES[k] for k in KEYS)
    assert all(out[k].dtype == delta[k].dtype for k in KEYS)
    return out


def test_new_attacks_are_registered_malicious_with_a_main_parameter() -> None:
    new = ("alie", "ipm", "min_max", "min_sum", "mimic", "fang", "sybil", "adaptive", "backdoor_trigger")
    for name in new:
        cls = ATTACKS[name]
        assert cls.kind == "malicious" and cls.main is not None
        assert cls.level == ("data" if name == "backdoor_trigger" else "update")
    assert str(AttackPlan.parse("alie:z=1.5")) == "alie:z=1.5"
    assert AttackPlan.parse("malicious:min_max=sign").attacks[0].params() == {"perturbation": "sign", "gamma_init": 10.0}
    assert AttackPlan.parse("backdoor_trigger+scaling:factor=10").kinds == ("malicious",)


def test_flatten_uses_sorted_keys_in_c_order_and_unflatten_inverts_it() -> None:
    update = _update(np.random.default_rng(0), np.float32)
    vector = flatten(update, sorted(update))
    assert np.array_equal(vector, np.concatenate([update["b"].ravel(), update["w"].ravel()]))
    back = unflatten(vector, update)
    assert list(back) == list(update) and all(np.array_equal(back[k], update[k]) for k in update)
    assert back["w"].dtype == np.float32


def test_alie_is_mean_minus_z_std() -> None:
    honest = _honest()
    mu, sigma = _mu_sigma(honest)
    assert np.allclose(_vec(_run("alie:z=1.5", honest)), mu - 1.5 * sigma, rtol=0, atol=1e-12)
    assert np.allclose(_vec(_run("alie", honest)), mu - sigma, rtol=0, atol=1e-12)


def test_ipm_is_minus_epsilon_mean() -> None:
    honest = _honest()
    mu, _ = _mu_sigma(honest)
    assert np.allclose(_vec(_run("ipm", honest)), -0.5 * mu, rtol=0, atol=1e-12)
    assert np.allclose(_vec(_run("ipm:epsilon=0.1", honest)), -0.1 * mu, rtol=0, atol=1e-12)


def _max_distance(u: np.ndarray, G: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(G - u, axis=1)))


def _sum_sq(u: np.ndarray, G: np.ndarray) -> float:
    return float(np.sum(np.linalg.norm(G - u, axis=1) ** 2))


@pytest.mark.parametrize("perturbation", ["std", "unit_vec", "sign"])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 100.0])  # 100: γ* is far beyond the paper's cap 2·γ_init
def test_min_max_meets_its_bound_with_the_largest_gamma(perturbation: str, scale: float) -> None:
    honest = tuple({k: scale * v for k, v in u.items()} for u in _honest(8, seed=1))
    G = np.stack([_vec(u) for u in honest])
    bound = max(np.linalg.norm(G[i] - G[j]) for i in range(len(G)) for j in range(len(G)))
    attack = MinMax(perturbation=perturbation)
    p = attack.direction(G)
    gamma = attack.gamma(G, p)
    u = _vec(_run(f"min_max:perturbation={perturbation}", honest))
    assert np.allclose(u, G.mean(axis=0) + gamma * p, rtol=0, atol=1e-12 * scale)
    assert gamma > 0 and _max_distance(u, G) <= bound * (1 + 1e-9)
    assert _max_distance(G.mean(axis=0) + gamma * (1 + 1e-3) * p, G) > bound


@pytest.mark.parametrize("perturbation", ["std", "unit_vec", "sign"])
def test_min_sum_meets_its_bound_with_the_largest_gamma(perturbation: str) -> None:
    honest = _honest(8, seed=2)
    G = np.stack([_vec(u) for u in honest])
    bound = max(_sum_sq(g, G) for g in G)
    attack = MinSum(perturbation=perturbation)
    p = attack.direction(G)
    gamma = attack.gamma(G, p)
    u = _vec(_run(f"min_sum:perturbation={perturbation}", honest))
    assert np.allclose(u, G.mean(axis=0) + gamma * p, rtol=0, atol=1e-12)
    assert gamma > 0 and _sum_sq(u, G) <= bound * (1 + 1e-9)
    assert _sum_sq(G.mean(axis=0) + gamma * (1 + 1e-3) * p, G) > bound


def test_min_max_direction_is_the_papers_perturbation() -> None:
    G = np.stack([_vec(u) for u in _honest()])
    mu, sigma = G.mean(axis=0), G.std(axis=0, ddof=1)
    assert np.allclose(MinMax().direction(G), -sigma / np.linalg.norm(sigma))
    assert np.allclose(MinMax(perturbation="unit_vec").direction(G), -mu / np.linalg.norm(mu))
    assert np.array_equal(MinMax(perturbation="sign").direction(G), -np.sign(mu))


def test_min_max_of_identical_updates_is_that_update() -> None:
    honest = _honest(1) * 4
    assert np.allclose(_vec(_run("min_max", honest)), _vec(honest[0]))


def test_mimic_copies_the_target_or_sends_mean_minus_std() -> None:
    honest = _honest(5, dtype=np.float32)
    for target in (0, 3):
        out = _run(f"mimic:target={target}", honest)
        assert all(np.array_equal(out[k], honest[target][k]) for k in KEYS)
    mu, sigma = _mu_sigma(_honest(5))
    assert np.allclose(_vec(_run("mimic:mode=mean_minus_std", _honest(5))), mu - sigma, rtol=0, atol=1e-12)
    with pytest.raises(AttackContextError, match="target=5 but the context has 5 honest updates"):
        _run("mimic:target=5", honest)


def test_fang_trmean_draws_beyond_the_honest_extremes_against_the_mean() -> None:
    rng = np.random.default_rng(5)
    template = _update(rng)
    offsets = np.linspace(-3.0, 3.0, 14)  # all-negative, mixed and all-positive coordinates
    honest = tuple(unflatten(offsets + 0.5 * rng.standard_normal(14), template) for _ in range(6))
    G = np.stack([_vec(u) for u in honest])
    mu, w_max, w_min = G.mean(axis=0), G.max(axis=0), G.min(axis=0)
    u = _vec(_run("fang:b=3", honest))
    up, down = mu <= 0, mu > 0
    lo_up, hi_up = w_max, np.where(w_max > 0, 3 * w_max, w_max / 3)
    lo_down, hi_down = np.where(w_min > 0, w_min / 3, 3 * w_min), w_min
    assert np.all((u[up] >= lo_up[up]) & (u[up] <= hi_up[up]))
    assert np.all((u[down] >= lo_down[down]) & (u[down] <= hi_down[down]))
    assert np.all((u - mu) * np.sign(mu) < 0)  # every coordinate moves against the mean's sign
    assert (w_max > 0).any() and (w_max <= 0).any() and (w_min > 0).any() and (w_min <= 0).any()
    assert up.any() and down.any()


def test_fang_krum_halves_lambda_until_the_detector_accepts() -> None:
    honest = _honest()
    mu, _ = _mu_sigma(honest)
    seen: list[float] = []

    def accepts(update: Mapping[str, np.ndarray]) -> bool:
        gap = float(np.max(np.abs(_vec(update) - mu)))
        seen.append(gap)
        return gap <= 0.3

    u = _vec(_run("fang:mode=krum,lam=2", honest, accepts=accepts))
    assert np.allclose(u, mu - 0.25 * np.sign(mu))
    assert seen == pytest.approx([2.0, 1.0, 0.5, 0.25])
    never = _vec(_run("fang:mode=krum", honest, accepts=lambda update: False))
    assert np.allclose(never, mu)
    with pytest.raises(AttackContextError, match="needs the detector's test"):
        _run("fang:mode=krum", honest)


def test_sybil_copies_the_leader_or_adds_noise_of_the_stated_rms() -> None:
    rng = np.random.default_rng(8)
    leader = {"w": rng.standard_normal((300, 40)), "b": rng.standard_normal(20)}
    delta = {k: np.zeros_like(v) for k, v in leader.items()}
    context = AttackContext(leader_update=leader)
    copy = AttackPlan.parse("sybil").apply_update(delta, context)
    assert all(np.array_equal(copy[k], leader[k]) for k in leader)
    noisy = AttackPlan.parse("sybil:noise=0.2", seed=1).apply_update(delta, context)
    diff = _vec(noisy) - _vec(leader)
    rms = np.sqrt(np.mean(_vec(leader) ** 2))
    assert np.sqrt(np.mean(diff**2)) == pytest.approx(0.2 * rms, rel=0.02)
    with pytest.raises(AttackContextError, match="leader's update"):
        AttackPlan.parse("sybil").apply_update(delta)


def test_adaptive_sits_on_the_cone_and_fights_the_honest_direction() -> None:
    honest = _honest(6, seed=4)
    reference = _update(np.random.default_rng(11), shift=0.5)
    r = _vec(reference)
    mu, _ = _mu_sigma(honest)
    mu_perp = mu - (mu @ r) / (r @ r) * r
    for text, cos, ratio in (("adaptive", 0.10, 1.0), ("adaptive:cos_margin=0.3,norm_ratio=2.5", 0.3, 2.5)):
        u = _vec(_run(text, honest, reference=reference))
        assert (u @ r) / (np.linalg.norm(u) * np.linalg.norm(r)) == pytest.approx(cos, abs=1e-9)
        assert np.linalg.norm(u) == pytest.approx(ratio * np.linalg.norm(r), rel=1e-9)
        assert u @ mu_perp < 0
        # nothing orthogonal to r pushes harder against μ⊥ at that cosine and norm
        u_perp = u - (u @ r) / (r @ r) * r
        assert u_perp @ mu_perp == pytest.approx(-np.linalg.norm(u_perp) * np.linalg.norm(mu_perp), rel=1e-9)


def test_adaptive_with_honest_mean_along_the_reference_still_meets_cosine_and_norm() -> None:
    reference = _update(np.random.default_rng(12))
    honest = tuple({k: c * v for k, v in reference.items()} for c in (1.0, 2.0, 3.0))
    r = _vec(reference)
    u = _vec(_run("adaptive", honest, reference=reference))
    assert (u @ r) / (np.linalg.norm(u) * np.linalg.norm(r)) == pytest.approx(0.10, abs=1e-9)
    assert np.linalg.norm(u) == pytest.approx(np.linalg.norm(r), rel=1e-9)


@pytest.mark.parametrize("name", ["alie", "ipm", "min_max", "min_sum", "mimic", "fang", "adaptive"])
def test_omniscient_attacks_refuse_to_run_without_the_honest_updates(name: str) -> None:
    delta = _update(np.random.default_rng(0))
    for context in (None, AttackContext(honest_updates=())):
        with pytest.raises(AttackContextError, match=f"{name} is omniscient: it needs the round's honest updates"):
            AttackPlan.parse(name).apply_update(delta, context)


def test_missing_reference_and_mismatched_updates_are_refused() -> None:
    honest = _honest()
    with pytest.raises(AttackContextError, match="needs the round's reference update"):
        _run("adaptive", honest)
    with pytest.raises(AttackContextError, match="the reference update is zero"):
        _run("adaptive", honest, reference={k: np.zeros(SHAPES[k]) for k in KEYS})
    wrong = ({"w": np.zeros((4, 3)), "b": np.zeros(2)},)
    with pytest.raises(AttackContextError, match="honest update 0 does not have the update's parameter names"):
        _run("alie", wrong + honest[1:])
    assert issubclass(AttackContextError, AttackSpecError)


@pytest.mark.parametrize(("text", "message"), [
    ("alie:z=-1", "z must be >= 0"),
    ("ipm:epsilon=0", "epsilon must be > 0"),
    ("min_max:perturbation=gauss", "perturbation='gauss' is not one of"),
    ("min_sum:gamma_init=0", "gamma_init must be > 0"),
    ("mimic:target=-1", "target must be an index >= 0"),
    ("mimic:target=0.5", "target='0.5' is not an integer"),
    ("fang:b=1", "b must be > 1"),
    ("fang:mode=median", "mode='median' is not one of"),
    ("sybil:noise=-0.1", "noise must be >= 0"),
    ("adaptive:cos_margin=1.5", r"cos_margin must be in \[-1, 1\]"),
    ("adaptive:norm_ratio=0", "norm_ratio must be > 0"),
    ("backdoor_trigger:fraction=2", r"fraction must be in \[0, 1\]"),
    ("backdoor_trigger:size=0", "size must be an integer >= 1"),
    ("backdoor_trigger:target=-2", "target must be a class index >= 0"),
])  # fmt: skip
def test_new_attack_parameters_are_checked(text: str, message: str) -> None:
    with pytest.raises(AttackSpecError, match=message):
        AttackPlan.parse(text)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits_dataset().subset(range(200))


def test_backdoor_trigger_stamps_the_corner_and_relabels_exactly_the_fraction(digits: Dataset) -> None:
    out = AttackPlan.parse("backdoor_trigger:target=7", seed=1).apply_data(digits, num_classes=10)
    before, after = digits.X.reshape(-1, 8, 8), out.X.reshape(-1, 8, 8)
    assert out.X.shape == digits.X.shape
    changed = np.flatnonzero(np.any(before != after, axis=(1, 2)))
    assert len(changed) == round(0.3 * len(digits))  # the corner of digits is blank: every stamp shows
    corner = np.zeros((8, 8), dtype=bool)
    corner[-2:, -2:] = True
    assert np.all(after[changed][:, corner] == digits.X.max())
    assert np.array_equal(after[:, ~corner], before[:, ~corner])
    assert np.all(out.y[changed] == 7)
    unchanged = np.setdiff1d(np.arange(len(digits)), changed)
    assert np.array_equal(out.y[unchanged], digits.y[unchanged])


def test_backdoor_trigger_checks_target_and_size_against_the_data(digits: Dataset) -> None:
    with pytest.raises(AttackSpecError, match="target=10 but the task has 10 classes"):
        AttackPlan.parse("backdoor_trigger:target=10").apply_data(digits, num_classes=10)
    with pytest.raises(AttackSpecError, match="a 9×9 trigger does not fit 8×8 images"):
        AttackPlan.parse("backdoor_trigger:size=9").apply_data(digits, num_classes=10)
