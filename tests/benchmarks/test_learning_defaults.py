"""The training defaults learn (benchmarks/learning_defaults.py): on digits every model beats the
old built-in settings and comes within 10 % of scikit-learn's MLP; on breast cancer per-feature
standardisation beats one range, which beats raw features. Accuracies, never times."""

from __future__ import annotations

from benchmarks import learning_defaults


def test_the_defaults_learn_on_digits_for_every_model():
    # Execute
    trials = learning_defaults.digits_trials()
    reference = learning_defaults.sklearn_reference()
    # Assert
    by_model: dict[str, list[float]] = {}
    for trial in trials:
        by_model.setdefault(trial.model, []).append(trial.accuracy)
    assert set(by_model) == {"mlp", "logreg", "cnn"}
    for model, (defaults, old) in by_model.items():
        assert defaults > old and defaults >= 0.9 * reference, (model, defaults, old, reference)


def test_standardize_beats_one_range_beats_raw_on_breast_cancer():
    raw, ranged, standardized = (t.accuracy for t in learning_defaults.breast_cancer_trials())
    assert standardized > ranged > raw and standardized > 0.95
