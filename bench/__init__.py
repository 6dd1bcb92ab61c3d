"""The benchmarks: each module is run from the checkout's root as ``.venv/bin/python -m
bench.<module> ...`` (``-m`` puts the root first on ``sys.path``, so ``bench`` and the project's
packages import from this checkout; no module edits ``sys.path``). ``bench.run_all`` runs the
published set and writes ``BENCHMARKS.md`` (:mod:`bench.report`). The package is not installed
by ``pip install .``: it needs a checkout (its data generators and the demo repo)."""
