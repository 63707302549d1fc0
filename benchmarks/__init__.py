"""Benchmarks of the market side by side with the systems users would pick instead (issue 7).

One module a benchmark, each with ``run(quick=…) -> Section`` and a thin script in ``scripts/``:

| module | script | measures |
|---|---|---|
| :mod:`benchmarks.overhead` | ``scripts/bench_overhead.py`` | time of each step of a round, vs Flower FedAvg on the same partitions; gas per call |
| :mod:`benchmarks.robustness` | ``scripts/bench_robustness.py`` | final accuracy and detection under five attacks, vs Flower FedAvg, Krum, FedMedian, FedTrimmedAvg |
| :mod:`benchmarks.fairness` | ``scripts/bench_fairness.py`` | Spearman with exact validation Shapley and wall time of the provable score, LOO, TMC, GTG |
| :mod:`benchmarks.scale` | ``scripts/bench_scale.py`` | aggregator time and peak memory for n trainers and d parameters |
| :mod:`benchmarks.zk_table` | (``scripts/bench_zk.py``) | the zk proving table, when that script exists |

``scripts/bench_all.py`` runs them all and writes ``benchmarks/RESULTS.md`` with the plots beside
it. Every benchmark drives the project's own functions (one copy of each algorithm): the
trainer and aggregator code paths, the detectors and scorers in ``aggregator/``, and Flower's
strategies from ``flwr``.
"""
