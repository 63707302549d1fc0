"""The trainer client: data sets and partitions, the model registry, local training, the
round step, attack simulators and the trainer loop.

:mod:`trainers.data` and :mod:`trainers.partition` (built-in and user data, IID and non-IID
shares), :mod:`trainers.models` (small networks from a task spec's model section, their fixed input
scaling in :mod:`trainers.input_scaling`),
:mod:`trainers.training` (local epochs and the update), :mod:`trainers.recipe` (the one round
step: data attack → training → update attack), :mod:`trainers.attacks` (experiment-only attack
simulators; nothing attacks by default), :mod:`trainers.node` (follow a task on chain, every
round), :mod:`trainers.local_trial` and :mod:`trainers.task_builder` (a round without a chain,
a digits task spec with its initial model); the ``market trainer`` and ``market task post``
commands are in :mod:`trainers.cli`.

Layer: beside ``aggregator``, above ``zk`` and the market core (docs/DESIGN.md). torch lives
here; nothing here imports ``aggregator`` or ``benchmarks``. Nothing is imported here (so
importing a torch-free submodule stays torch-free): import the submodules you use.
"""

__all__ = [
    "attacks",
    "cli",
    "data",
    "exceptions",
    "input_scaling",
    "local_trial",
    "models",
    "node",
    "partition",
    "recipe",
    "task_builder",
    "training",
]
