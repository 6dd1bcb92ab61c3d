"""Unit tests for the boolean indicator."""

from __future__ import annotations

from encoders import EncoderSet, Indicator, NoState


def test_indicator_policy() -> None:
    enc = EncoderSet.of((Indicator("i", input="b", fill=0.5, missing_indicator=True), NoState()))
    cases = [(True, [1.0, 0.0]), (False, [0.0, 0.0]), ("Yes", [1.0, 0.0]), ("n", [0.0, 0.0]),
             (3, [1.0, 0.0]), (0.0, [0.0, 0.0]), (None, [0.5, 1.0]), ("perhaps", [0.5, 1.0])]
    for value, expected in cases:
        assert enc.encode_values({"b": value}) == expected, value
