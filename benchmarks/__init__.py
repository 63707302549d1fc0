"""Benchmarks of the market side by side with the systems users would pick instead (issue 7).

One module a benchmark, each with a thin script in ``scripts/``; the first five (the sections
of ``RESULTS.md``) have ``run(quick=…) -> Section``:

| module | script | measures |
|---|---|---|
| :mod:`benchmarks.overhead` | ``scripts/bench_overhead.py`` | time of each step of a round, vs Flower FedAvg on the same partitions; gas per call |
| :mod:`benchmarks.robustness` | ``scripts/bench_robustness.py`` | final accuracy, attackers' paid share and honest false flags under every attack simulator (old and omniscient, backdoor) at 10/30/45 %, vs Flower FedAvg, Krum, MultiKrum, Bulyan, FedMedian, FedTrimmedAvg; sybil inflation (:mod:`benchmarks.sybil`) |
| :mod:`benchmarks.fairness` | ``scripts/bench_fairness.py`` | Spearman with exact validation Shapley and wall time of the provable score, LOO, TMC, GTG |
| :mod:`benchmarks.scale` | ``scripts/bench_scale.py`` | aggregator time and peak memory for n trainers and d parameters |
| :mod:`benchmarks.zk_table` | ``scripts/bench_zk.py`` (:mod:`benchmarks.zk_costs`) | the zk proving table, beside the gas of every call |
| :mod:`benchmarks.sketch_costs` | ``scripts/bench_sketch.py`` | sketching d parameters, Poseidon hashes and commitments per second |
| :mod:`benchmarks.storage_costs` | ``scripts/bench_storage.py`` | the embedded store's put/get and encryption on a model-sized update |
| :mod:`benchmarks.intake_fuzz` | ``make fuzz`` | malformed submissions through intake (cases in :mod:`benchmarks.intake_fuzz_cases`, DAG bombs in :mod:`benchmarks.hostile_dags`): no crash, one reason code each |

Long test modes beside them (tests, not benchmarks): ``make stateful-long`` (the stateful money
test, 500 random sequences as two seeded batches of 250 side by side, counts in
``out/stateful-stats-seed*.txt``) and ``tests/test_kill_restart.py`` (15 kill points and 2 outages
on anvil and js-ipfs, in CI; its recovery table in ``out/kill-restart.md``).

The harness they share: :mod:`benchmarks.simulation` (the demo market, ``market demo``; its
options and typed result in :mod:`benchmarks.records`), :mod:`benchmarks.kit` (the demo's
digits task, built once; a trainer's round; the market's submission path without a chain; Flower's
side), :mod:`benchmarks.round_steps` (a round's steps read from :mod:`market.tracing` spans) and
:mod:`benchmarks.money_path` (``scripts/post_task.py``). ``scripts/bench_all.py`` runs the
first five and writes ``benchmarks/RESULTS.md`` with the plots beside it. Every benchmark drives the project's own functions (one copy of each algorithm): the
trainer and aggregator code paths, the detectors and scorers in ``aggregator/``, and Flower's
strategies from ``flwr``.
"""
