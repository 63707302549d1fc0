"""A trainer's update package: one safetensors file, tensors by parameter name, metadata in
the header's ``__metadata__`` string map.

Building is :func:`build_update_package`; loading untrusted bytes is
:func:`load_update_package`, which checks, in this order, and raises one exception class per
failure (each with a stable :attr:`UpdatePackageError.reason` code for rejection records):

=========================  ====================  ==========================================
exception                  reason                what failed
=========================  ====================  ==========================================
:class:`PackageTooLarge`   ``too-large``         byte size over the limit
:class:`PackageMalformed`  ``malformed``         not a well-formed safetensors file
:class:`HeaderTooDeep`     ``malformed-header``  header JSON nested deeper than a header needs
:class:`InvalidMetadata`   ``bad-metadata``      metadata missing, mistyped or out of range
:class:`TooManySamples`    ``too-many-samples``  ``num_samples`` over the cap (FedAvg's weight)
:class:`MetadataMismatch`  ``metadata-mismatch`` task, round, trainer or spec hash unexpected
:class:`WrongTensorNames`  ``wrong-names``       parameter names differ from the model spec
:class:`WrongDtype`        ``wrong-dtype``       a tensor's dtype differs from the spec
:class:`WrongShape`        ``wrong-shape``       a tensor's shape differs from the spec
:class:`NonFiniteValues`   ``non-finite``        NaN or infinity in a tensor
:class:`UpdateNormTooLarge` ``norm-too-large``   global L2 norm over the task's bound
=========================  ====================  ==========================================

The header is parsed and checked here before any tensor byte is touched; the tensors are then
decoded by the ``safetensors`` library into NumPy arrays. Nothing is ever unpickled. Every JSON
document (the header, the ``sketch`` and ``metrics`` fields) has its nesting depth counted
without parsing first (:func:`json_nesting_depth`): the recursive parser would otherwise
overflow the C stack on ``[[[[…`` 400k deep once web3's dependencies have raised the recursion
limit, killing the process instead of raising.

Modules: :mod:`~market.update_package.errors` (the exceptions), :mod:`~market.update_package.header`
(the safetensors header), :mod:`~market.update_package.metadata` (``__metadata__``),
:mod:`~market.update_package.package` (build and load).
"""

from __future__ import annotations

from market.update_package.errors import (
    HeaderTooDeep,
    InvalidMetadata,
    MetadataMismatch,
    NonFiniteValues,
    PackageMalformed,
    PackageTooLarge,
    TooManySamples,
    UpdateNormTooLarge,
    UpdatePackageError,
    WrongDtype,
    WrongShape,
    WrongTensorNames,
)
from market.update_package.header import (
    MAX_HEADER_BYTES,
    MAX_HEADER_DEPTH,
    SAFETENSORS_DTYPES,
    json_nesting_depth,
    read_header,
)
from market.update_package.metadata import FORMAT, MAX_METRICS_DEPTH, VERSION, UpdateMetadata
from market.update_package.package import (
    MAX_NUM_SAMPLES,
    ModelSpec,
    UpdatePackage,
    build_update_package,
    check_against_spec,
    load_update_package,
    max_package_bytes,
    model_spec_hash,
    normalize_model_spec,
)

__all__ = [
    "FORMAT",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_DEPTH",
    "MAX_METRICS_DEPTH",
    "MAX_NUM_SAMPLES",
    "SAFETENSORS_DTYPES",
    "VERSION",
    "HeaderTooDeep",
    "InvalidMetadata",
    "MetadataMismatch",
    "ModelSpec",
    "NonFiniteValues",
    "PackageMalformed",
    "PackageTooLarge",
    "TooManySamples",
    "UpdateMetadata",
    "UpdateNormTooLarge",
    "UpdatePackage",
    "UpdatePackageError",
    "WrongDtype",
    "WrongShape",
    "WrongTensorNames",
    "build_update_package",
    "check_against_spec",
    "json_nesting_depth",
    "load_update_package",
    "max_package_bytes",
    "model_spec_hash",
    "normalize_model_spec",
    "read_header",
]
