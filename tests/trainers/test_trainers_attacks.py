"""Attack simulators: each changes the data or the update the way it claims; plans parse strictly."""

from __future__ import annotations

import numpy as np
import pytest

from trainers.attacks import ATTACKS, AttackContext, AttackPlan, LabelFlip
from trainers.data import Dataset, load_digits_dataset
from trainers.exceptions import AttackSpecError
from trainers.training import update_norm


def _delta(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"fc.weight": rng.standard_normal((20, 30)).astype(np.float32), "fc.bias": rng.standard_normal(20).astype(np.float32)}


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits_dataset().subset(range(400))


def test_every_attack_is_labelled_and_off_by_default() -> None:
    assert not AttackPlan.parse(None) and not AttackPlan.parse("none") and not AttackPlan()
    for name, cls in ATTACKS.items():
        assert cls.name == name
        assert cls.level in ("data", "update") and cls.kind in ("malicious", "unreliable")
    assert {n for n, c in ATTACKS.items() if c.kind == "unreliable"} == {"noisy_labels", "blur", "low_resolution"}


def test_sign_flip_gives_minus_delta() -> None:
    delta = _delta()
    out = AttackPlan.parse("sign_flip").apply_update(delta)
    assert all(np.array_equal(out[k], -delta[k]) for k in delta)
    scaled = AttackPlan.parse("sign_flip:scale=3").apply_update(delta)
    assert np.allclose(scaled["fc.bias"], -3 * delta["fc.bias"])


def test_scaling_gives_k_delta() -> None:
    delta = _delta()
    out = AttackPlan.parse("scaling:factor=5").apply_update(delta)
    assert all(np.allclose(out[k], 5 * delta[k]) for k in delta)
    assert out["fc.weight"].dtype == np.float32
    assert update_norm(out) == pytest.approx(5 * update_norm(delta), rel=1e-5)


def test_free_rider_zeros_gives_all_zeros() -> None:
    plan = AttackPlan.parse("free_rider")
    out = plan.apply_update(_delta())
    assert plan.skips_training
    assert all(not v.any() for v in out.values())


def test_free_rider_stale_reuses_previous_update_or_old_global() -> None:
    delta, old = _delta(0), _delta(1)
    plan = AttackPlan.parse("free_rider:mode=stale")
    out = plan.apply_update(delta, AttackContext(previous_delta=old))
    assert all(np.array_equal(out[k], old[k]) for k in delta)
    glob, prev = _delta(2), _delta(3)
    out = plan.apply_update(delta, AttackContext(global_state=glob, previous_global=prev))
    assert all(np.allclose(out[k], prev[k] - glob[k]) for k in delta)
    assert all(not v.any() for v in plan.apply_update(delta).values())  # round 0: nothing stale yet


def test_gaussian_noise_replace_has_the_expected_norm() -> None:
    delta = _delta()
    d = sum(v.size for v in delta.values())
    out = AttackPlan.parse("gaussian_noise:sigma=0.5", seed=1).apply_update(delta)
    assert update_norm(out) == pytest.approx(0.5 * np.sqrt(d), rel=0.1)
    assert np.corrcoef(out["fc.weight"].ravel(), delta["fc.weight"].ravel())[0, 1] < 0.2


def test_gaussian_noise_add_adds_sigma_squared_per_coordinate() -> None:
    delta = _delta()
    d = sum(v.size for v in delta.values())
    out = AttackPlan.parse("gaussian_noise:sigma=0.5,mode=add", seed=1).apply_update(delta)
    assert update_norm(out) ** 2 == pytest.approx(update_norm(delta) ** 2 + 0.25 * d, rel=0.1)
    diff = {k: out[k] - delta[k] for k in delta}
    assert update_norm(diff) == pytest.approx(0.5 * np.sqrt(d), rel=0.1)


def test_update_attacks_leave_the_input_untouched_and_are_reproducible() -> None:
    delta = _delta()
    copy = {k: v.copy() for k, v in delta.items()}
    plan = AttackPlan.parse("gaussian_noise:sigma=1", seed=4)
    a, b = plan.apply_update(delta), plan.apply_update(delta)
    assert all(np.array_equal(delta[k], copy[k]) for k in delta)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["fc.bias"], plan.apply_update(delta, round_=1)["fc.bias"])


def test_label_flip_reverse_maps_every_label(digits: Dataset) -> None:
    out = AttackPlan.parse("label_flip").apply_data(digits, num_classes=10)
    assert np.array_equal(out.y, 9 - digits.y)
    assert np.array_equal(out.X, digits.X)


def test_label_flip_permutation_has_no_fixed_point(digits: Dataset) -> None:
    mapping = LabelFlip(mode="permutation").mapping(10, np.random.default_rng(0))
    assert sorted(mapping.tolist()) == list(range(10)) and not np.any(mapping == np.arange(10))
    out = AttackPlan.parse("label_flip:mode=permutation,fraction=0.5", seed=2).apply_data(digits, num_classes=10)
    assert np.mean(out.y != digits.y) == pytest.approx(0.5, abs=0.01)


def test_noisy_labels_changes_about_p_of_labels(digits: Dataset) -> None:
    out = AttackPlan.parse("unreliable:noisy_labels=0.3", seed=0).apply_data(digits, num_classes=10)
    assert np.mean(out.y != digits.y) == pytest.approx(0.3, abs=0.01)
    assert out.y.min() >= 0 and out.y.max() <= 9


def test_blur_smooths_images_and_keeps_labels(digits: Dataset) -> None:
    out = AttackPlan.parse("blur:sigma=1.0").apply_data(digits, num_classes=10)
    assert out.X.shape == digits.X.shape and np.array_equal(out.y, digits.y)
    roughness = lambda X: np.abs(np.diff(X.reshape(-1, 8, 8), axis=2)).mean()  # noqa: E731
    assert roughness(out.X) < 0.6 * roughness(digits.X)
    assert out.X.mean() == pytest.approx(digits.X.mean(), rel=0.05)


def test_low_resolution_gives_constant_blocks(digits: Dataset) -> None:
    image = digits.replace(X=digits.X.reshape(-1, 1, 8, 8))
    out = AttackPlan.parse("unreliable:low_resolution=2").apply_data(image, num_classes=10)
    blocks = out.X.reshape(-1, 4, 2, 4, 2)
    assert np.allclose(blocks, blocks[:, :, :1, :, :1])
    assert np.allclose(blocks.mean(axis=(2, 4)), image.X.reshape(-1, 4, 2, 4, 2).mean(axis=(2, 4)))


def test_combined_plan_runs_data_then_update_attacks(digits: Dataset) -> None:
    plan = AttackPlan.parse("scaling:factor=2+label_flip")
    assert [a.name for a in plan.attacks] == ["label_flip", "scaling"]
    assert str(AttackPlan.parse(str(plan))) == str(plan)
    assert plan.kinds == ("malicious",)


@pytest.mark.parametrize(("text", "message"), [
    ("teleport", "unknown attack 'teleport'"),
    ("sign_flip:strength=2", "sign_flip has no parameter 'strength'"),
    ("gaussian_noise:sigma=abc", "sigma='abc' is not a number"),
    ("gaussian_noise:mode=mix", "mode='mix' is not one of"),
    ("noisy_labels:p=1.5", r"p must be in \[0, 1\]"),
    ("low_resolution:factor=1.5", "factor='1.5' is not an integer"),
    ("unreliable:sign_flip", "sign_flip is a malicious attack, not unreliable"),
    ("unreliable", "name its attacks"),
    ("sign_flip+sign_flip", "names an attack twice"),
    ("sign_flip:scale", "needs a value"),
    ("label_flip+free_rider", "does not train"),
])  # fmt: skip
def test_attack_plan_parse_errors(text: str, message: str) -> None:
    with pytest.raises(AttackSpecError, match=message):
        AttackPlan.parse(text)
