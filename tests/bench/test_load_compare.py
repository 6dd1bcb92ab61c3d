"""The load comparison's table of a result, old result files (without the Redis CPU)
included."""

from __future__ import annotations

from bench.load_compare import markdown


def test_the_table_shows_a_dash_for_figures_a_result_lacks() -> None:
    figures = {"throughput_rps": 100.0, "p50_ms": 10.0, "p99_ms": 20.0, "shed": 0,
               "server_cpu_ms_per_answer": 2.0}
    result = {"medians": {"before (1 worker)": {"16": figures},
                          "after (1 worker)": {"16": {**figures, "throughput_rps": 200.0,
                                                      "redis_cpu_ms_per_answer": 0.35}},
                          "after (1 worker, log off)": {"16": {
                              **figures, "redis_cpu_ms_per_answer": None}}},
              "ratios_after_over_before": {"after (1 worker)": {"16": {
                  "throughput_rps": 2.0, "p99_ms": 1.0}}}}
    rows = markdown(result).splitlines()
    assert rows[2] == "| before (1 worker) | 16 | 100.0 | 10 | 20 | 0 | 2.00 | – | – | – |"
    assert rows[3] == "| after (1 worker) | 16 | 200.0 | 10 | 20 | 0 | 2.00 | 0.35 | 2.00 | 1.00 |"
    assert rows[4].endswith("| 2.00 | – | – | – |")
