"""The task spec: a versioned JSON document stored in IPFS whose CID a task records on chain.

It says what to train (model architecture and hyper-parameters, input shape, classes, the
initial global model's CID), how (optimizer, learning rate, local epochs, batch size), on what
(the data schema a trainer's data must match), and how rounds are judged (the scoring policy and
the update limits the aggregator enforces). Loading validates every field and names the first
one that is wrong. ``market/`` never imports torch: the spec only describes the model; the
registry in ``trainers/models.py`` builds it.

Example (``TaskSpec.example_digits()`` makes it)::

    {"version": 1, "name": "digits-mlp",
     "model": {"arch": "mlp", "input_shape": [64], "num_classes": 10,
               "params": {"hidden": [32], "input_range": [0.0, 16.0]},
               "init_seed": 0, "initial_model_cid": null},
     "training": {"optimizer": "sgd", "learning_rate": 0.3, "momentum": 0.0, "local_epochs": 5,
                  "batch_size": 16, "dtype": "float32"},
     "data": {"kind": "tabular", "input_shape": [64], "num_classes": 10, "label_column": "label",
              "value_range": [0.0, 16.0]},
     "scoring": {"detector": "provable", "tau": 4.0, "sketch_k": 32, "validation_shapley": ["gtg", "loo"]},
     "limits": {"max_update_bytes": 67108864, "max_update_norm": 100.0}}
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from eth_utils import keccak
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from market.bounded_json import json_nesting_depth
from market.exceptions import MarketValueError
from market.update_package import MAX_NUM_SAMPLES

MAX_SPEC_DEPTH: Final = 16
"""Deepest nesting a task spec may have (its own schema needs 4): checked before parsing, so a
hostile spec cannot overflow the C stack of the recursive JSON parser (finding 2 of issue 12)."""

SPEC_VERSION: Final = 1
MAX_SPEC_BYTES = 1 << 20

# The training defaults: what a spec that leaves them out trains with, and what the built-in
# digits spec, ``market task post``/``task spec`` from flags, ``train-local`` and the demo use
# (one place). Measured by ``python scripts/bench_learning_defaults.py``: 0.92-0.93 hold-out
# accuracy on digits after one local run for mlp, logreg and cnn (lr 0.1, 2 epochs, batch 32
# reached 0.74-0.89).
DEFAULT_LEARNING_RATE: Final = 0.3
DEFAULT_LOCAL_EPOCHS: Final = 5
DEFAULT_BATCH_SIZE: Final = 16


class TaskSpecError(MarketValueError):
    """A task spec is not valid JSON or breaks a rule; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Strict):
    """What network to train."""

    arch: Literal["mlp", "cnn", "logreg"] = Field(description="Architecture in the trainers' model registry.")
    input_shape: tuple[int, ...] = Field(description="Shape of one input sample, e.g. [64] or [1, 8, 8].")
    num_classes: int = Field(ge=2, le=10_000)
    params: dict[str, Any] = Field(default_factory=dict, description="Architecture hyper-parameters.")
    init_seed: int = Field(default=0, ge=0, description="Seed of the deterministic initialisation.")
    initial_model_cid: str | None = Field(default=None, description="CID of the initial global model (safetensors).")

    @field_validator("input_shape")
    @classmethod
    def _positive(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d <= 0 for d in v):
            raise ValueError("every dimension must be positive")
        return v


class TrainingSection(_Strict):
    """How each trainer trains locally."""

    optimizer: Literal["sgd", "adam"] = "sgd"
    learning_rate: float = Field(default=DEFAULT_LEARNING_RATE, gt=0, le=10)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    local_epochs: int = Field(default=DEFAULT_LOCAL_EPOCHS, ge=1, le=1000)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=1 << 16)
    dtype: Literal["float32", "float64"] = "float32"


class DataSection(_Strict):
    """The schema a trainer's data must match."""

    kind: Literal["tabular", "image"] = "tabular"
    input_shape: tuple[int, ...]
    num_classes: int = Field(ge=2, le=10_000)
    label_column: str = Field(default="label", description="Label column of CSV data.")
    value_range: tuple[float, float] | None = Field(default=None, description="Inclusive range of input values.")

    @model_validator(mode="after")
    def _range_ordered(self) -> "DataSection":
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise ValueError("value_range must be [low, high] with low <= high")
        return self


Fraction32 = tuple[int, int]
"""A fraction (numerator, denominator) with both parts below 2^32 (what the circuit packs)."""


class ReferenceSection(_Strict):
    """The root of trust of the ``reference`` rule: the owner's class-balanced root set, encrypted
    to the aggregator (``root_set_cid``) and committed here by its SHA-256 (``root_set_digest``,
    hex), revealed after finalize so that ``market audit`` recomputes every reference; and the
    rule's parameters (zk.protocol.reference_rule.ReferenceRuleParams): h, the flags' cos bound γ,
    norm bound β and duplicate bound δ, as fractions."""

    root_set_cid: str = Field(min_length=1, max_length=128)
    root_set_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    per_class: int = Field(ge=1, le=100_000, description="Samples of every class in the root set (balanced).")
    epochs: int | None = Field(default=None, ge=1, le=1000, description=(
        "Local epochs of the reference on the root set (default: training.local_epochs). The reference should take "
        "about as many SGD steps as a typical trainer: with a root set k times smaller than a typical share, k times "
        "the epochs; else honest updates look oversized against it and the utility's curvature pays only the "
        "best-aligned one."))
    h: Fraction32 = (1, 2)
    cos: Fraction32 = (0, 1)
    norm: Fraction32 = (4, 1)
    dup: Fraction32 = (99, 100)

    @field_validator("h", "cos", "norm", "dup")
    @classmethod
    def _fraction(cls, v: Fraction32) -> Fraction32:
        if not all(0 <= part < 1 << 32 for part in v) or v[1] == 0:
            raise ValueError("a fraction [numerator, denominator] with parts in [0, 2^32) and a nonzero denominator")
        return v


class ScoringSection(_Strict):
    """How the aggregator judges a round. Payouts follow the provable score: the root-of-trust
    ``reference`` rule when the spec has a ``reference`` section, else the median rule
    (``provable``); ``multi_krum`` and ``mud_hog`` only for trusted-aggregator tasks."""

    detector: Literal["reference", "provable", "multi_krum", "mud_hog"] = "provable"
    tau: float = Field(default=4.0, gt=0, description="Flag when ||s_i - median||^2 > tau * median distance.")
    sketch_k: int = Field(default=32, ge=1, le=256)
    validation_shapley: tuple[Literal["exact", "tmc", "gtg", "loo"], ...] = ("gtg", "loo")
    reference: ReferenceSection | None = None

    @model_validator(mode="after")
    def _reference_rule_has_a_root_set(self) -> "ScoringSection":
        if (self.detector == "reference") != (self.reference is not None):
            raise ValueError("the reference detector needs a reference section (its root set), and a reference "
                             "section needs detector 'reference'")
        return self


class LimitsSection(_Strict):
    """Bounds the aggregator enforces on every update."""

    max_update_bytes: int = Field(default=64 << 20, ge=1024)
    max_update_norm: float = Field(default=100.0, gt=0)
    max_num_samples: int | None = Field(default=None, ge=1, le=MAX_NUM_SAMPLES, description=(
        "Cap on an update's num_samples, its FedAvg weight (default: the protocol's, 10^9; a spec may only lower "
        "it). Omitted from the spec's JSON when unset, so older specs keep their bytes and CID."))

    @property
    def num_samples_cap(self) -> int:
        """The cap that applies: ``max_num_samples`` or the protocol's :data:`MAX_NUM_SAMPLES`."""
        return MAX_NUM_SAMPLES if self.max_num_samples is None else self.max_num_samples


class TaskSpec(_Strict):
    """A task spec, version 1."""

    version: Literal[1] = SPEC_VERSION
    name: str = Field(min_length=1, max_length=200)
    model: ModelSection
    training: TrainingSection = TrainingSection()
    data: DataSection
    scoring: ScoringSection = ScoringSection()
    limits: LimitsSection = LimitsSection()

    @model_validator(mode="after")
    def _data_matches_model(self) -> "TaskSpec":
        if tuple(self.data.input_shape) != tuple(self.model.input_shape):
            raise ValueError(f"data.input_shape {list(self.data.input_shape)} differs from model.input_shape "
                             f"{list(self.model.input_shape)}")
        if self.data.num_classes != self.model.num_classes:
            raise ValueError("data.num_classes differs from model.num_classes")
        return self

    # --- bytes ---------------------------------------------------------------------------
    def to_json(self) -> bytes:
        """Canonical JSON (sorted keys, no spaces): the bytes stored in IPFS."""
        document = self.model_dump(mode="json")
        if document["scoring"]["reference"] is None:  # a median-rule spec keeps the bytes (and CID) it had
            del document["scoring"]["reference"]
        if document["limits"]["max_num_samples"] is None:  # likewise a spec that keeps the protocol's cap
            del document["limits"]["max_num_samples"]
        return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> "TaskSpec":
        """Parse and validate; :class:`TaskSpecError` names what is wrong."""
        if isinstance(data, bytes):
            if len(data) > MAX_SPEC_BYTES:
                raise TaskSpecError(f"task spec is {len(data)} bytes; the limit is {MAX_SPEC_BYTES}")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise TaskSpecError("task spec is not UTF-8 text") from None
        if json_nesting_depth(data) > MAX_SPEC_DEPTH:
            raise TaskSpecError(f"task spec nests deeper than {MAX_SPEC_DEPTH} levels")
        try:
            raw = json.loads(data)
        except json.JSONDecodeError as exc:
            raise TaskSpecError(f"task spec is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise TaskSpecError("task spec must be a JSON object")
        if "version" not in raw:
            raise TaskSpecError(f'the task spec names no version: add "version": {SPEC_VERSION}')
        if raw.get("version") != SPEC_VERSION:
            raise TaskSpecError(f"task spec version {raw.get('version')!r} is not supported (this client reads {SPEC_VERSION})")
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "spec"
            raise TaskSpecError(f"task spec field {where}: {first['msg']}") from None

    def model_hash(self) -> str:
        """keccak256 (hex) of the canonical model section without the initial CID: what every
        update package of this task must name."""
        section = self.model.model_dump(mode="json", exclude={"initial_model_cid"})
        return "0x" + keccak(json.dumps(section, sort_keys=True, separators=(",", ":")).encode()).hex()

    def with_initial_model(self, cid: str) -> "TaskSpec":
        return self.model_copy(update={"model": self.model.model_copy(update={"initial_model_cid": cid})})

    @classmethod
    def example_digits(cls, *, arch: Literal["mlp", "cnn", "logreg"] = "mlp", epochs: int | None = None,
                       learning_rate: float | None = None, batch_size: int | None = None,
                       tau: float | None = None) -> "TaskSpec":
        """The built-in example: scikit-learn's handwritten digits (8×8, 10 classes). Epochs,
        learning rate, batch size and outlier threshold default to the sections' defaults
        (:data:`DEFAULT_LOCAL_EPOCHS`, :data:`DEFAULT_LEARNING_RATE`, :data:`DEFAULT_BATCH_SIZE`, τ 4.0)."""
        shape = (1, 8, 8) if arch == "cnn" else (64,)
        params: dict[str, Any] = {"hidden": [32]} if arch == "mlp" else ({"channels": 8} if arch == "cnn" else {})
        params["input_range"] = [0.0, 16.0]  # the model rescales the 0-16 pixel values to [0, 1]
        training: dict[str, Any] = {k: v for k, v in (("local_epochs", epochs), ("learning_rate", learning_rate),
                                                      ("batch_size", batch_size)) if v is not None}
        return cls(
            name=f"digits-{arch}",
            model=ModelSection(arch=arch, input_shape=shape, num_classes=10, params=params),
            training=TrainingSection(**training),
            data=DataSection(kind="image" if arch == "cnn" else "tabular", input_shape=shape, num_classes=10,
                             value_range=(0.0, 16.0)),
            scoring=ScoringSection() if tau is None else ScoringSection(tau=tau),
        )
