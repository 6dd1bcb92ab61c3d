"""Offline data jobs for skewless: Spark session setup, seeded fact generation, labels and
time-travelling feature tables (all timestamps are microsecond UTC)."""
