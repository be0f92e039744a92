"""Benchmarks; run them with `make bench` or `.venv/bin/python bench/turns.py --help`."""
