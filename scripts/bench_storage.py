"""Benchmark of the storage path of an update: the embedded store's put/get throughput on a
model-sized blob, and what encryption to the aggregator adds.

    python scripts/bench_storage.py            # a 50 MB update package, best of 3
    python scripts/bench_storage.py --quick    # 4 MB, best of 2
    python scripts/bench_storage.py --size-mb 200 --repeats 5

What is measured: see the docstring of benchmarks/storage_costs.py.
"""

from __future__ import annotations

import argparse

from benchmarks import storage_costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 MB and 2 repeats")
    parser.add_argument("--size-mb", type=float, default=None, help="package size in MB (default 50)")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 3)")
    args = parser.parse_args(argv)
    storage_costs.main(quick=args.quick, size_mb=args.size_mb, repeats=args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
