"""The speed and cost scripts (`python -m promot_bench.perf.<name>`): each prints its figures
and writes them as JSON; see README.md beside them."""
