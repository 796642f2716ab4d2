"""Benchmarks; also the bench URLconf and settings (bench/settings.py) their servers use."""
