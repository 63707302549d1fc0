"""Exceptions of the ``trainers`` package.

One root, :class:`TrainerError`, itself a :class:`market.exceptions.MarketError`, so the
``market`` CLI turns every one into a single line on stderr. Wrappers also inherit the matching
builtin (``ValueError``, ``FileNotFoundError``, ``RuntimeError``), web3.py's habit.

=============================  ==========================================================
exception                      raised when
=============================  ==========================================================
:class:`ModelError`            unknown architecture, bad params, state names/shapes differ
:class:`ModelBytesError`       model bytes are not a safetensors file of the expected model
:class:`DataLoadError`         a data file or folder cannot be read
:class:`DataSchemaError`       data does not match the task spec's data schema
:class:`DataShapeError`        … a sample's shape differs from ``data.input_shape``
:class:`DataLabelError`        … labels are not integers in ``0 .. num_classes-1``
:class:`DataNonFiniteError`    … inputs hold NaN or infinity
:class:`DataRangeError`        … inputs fall outside ``data.value_range``
:class:`PartitionError`        a partition cannot be made (too few samples, bad arguments)
:class:`DeviceUnavailable`     the requested torch device does not exist here
:class:`AttackSpecError`       an attack plan names an unknown attack or parameter
=============================  ==========================================================
"""

from __future__ import annotations

from market.exceptions import MarketError, MarketValueError


class TrainerError(MarketError):
    """Root of every error the trainer client raises on purpose."""

    exit_code = 7


class ModelError(TrainerError, MarketValueError):
    """A model cannot be built from its spec, or a state does not fit the model."""


class ModelBytesError(ModelError):
    """Model bytes are not a safetensors file holding the expected parameters."""


class DataLoadError(TrainerError, MarketValueError):
    """A data file or folder is missing, unreadable or not in the expected format."""


class DataSchemaError(TrainerError, MarketValueError):
    """A data set does not match the task spec's data schema; :attr:`reason` is a short code."""

    reason = "schema"


class DataShapeError(DataSchemaError):
    """The per-sample input shape differs from the spec's ``data.input_shape``."""

    reason = "shape"


class DataLabelError(DataSchemaError):
    """Labels are not integers in ``0 .. num_classes - 1``."""

    reason = "labels"


class DataNonFiniteError(DataSchemaError):
    """Inputs hold NaN or infinite values."""

    reason = "non-finite"


class DataRangeError(DataSchemaError):
    """Inputs fall outside the spec's ``data.value_range``."""

    reason = "value-range"


class PartitionError(TrainerError, MarketValueError):
    """A partition of a data set cannot be made as asked."""


class DeviceUnavailable(TrainerError, RuntimeError):
    """The requested torch device (e.g. ``cuda``) is not available on this machine."""


class AttackSpecError(TrainerError, MarketValueError):
    """An attack plan string names an unknown attack or parameter, or a bad value."""
