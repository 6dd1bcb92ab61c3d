"""Numeric vs categorical from encoder kinds, and the thresholds file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from encoders import EncoderSet, NoState, Numeric, OneHot, VocabularyState, ZScore, kind_classes
from encoders.numeric import ZScoreState
from skew.feature_kinds import CATEGORICAL_KINDS, NUMERIC_KINDS, output_kinds
from skew.thresholds import (
    DEFAULTS,
    ThresholdConfig,
    ThresholdConfigError,
    exceeded,
    load_thresholds,
)


def test_every_registered_kind_is_in_exactly_one_table() -> None:
    assert not CATEGORICAL_KINDS & NUMERIC_KINDS
    assert set(kind_classes()) <= CATEGORICAL_KINDS | NUMERIC_KINDS


@dataclass(frozen=True)
class _Unlisted(Numeric):
    kind = "unlisted_kind"  # not registered: only its .kind matters here


def test_output_kinds_follow_the_encoder_not_the_values() -> None:
    enc = EncoderSet.of(
        (ZScore("z", input="a", missing_indicator=True), ZScoreState(mean=0.0, scale=1.0)),
        (OneHot("g", input="b"), VocabularyState(tokens=("x", "y"))),
        (_Unlisted("u", input="c"), NoState()),
    )
    got = {k.name: (k.kind, k.encoder_kind, k.basis) for k in output_kinds(enc)}
    assert got == {
        "z": ("numeric", "zscore", "encoder kind"),
        "z__missing": ("categorical", "zscore", "missing indicator"),
        "g__0": ("categorical", "one_hot", "encoder kind"),
        "g__1": ("categorical", "one_hot", "encoder kind"),
        "g__oov": ("categorical", "one_hot", "encoder kind"),
        "u": ("numeric", "unlisted_kind", "dtype fallback"),
    }


OUTPUTS = [("watch_z", "numeric"), ("genre__0", "categorical"), ("genre__1", "categorical")]


def test_defaults_and_resolution_order(tmp_path: Path) -> None:
    cfg = ThresholdConfig()
    assert cfg.resolve("watch_z", "numeric") == {"js": 0.1, "psi": 0.2}
    assert cfg.resolve("genre__0", "categorical") == {"linf": 0.1}
    path = tmp_path / "t.toml"
    path.write_text('[defaults]\npsi = 0.25\n\n[features]\ngenre__1 = { linf = 0.3 }\n'
                    '"genre__*" = { linf = 0.2 }\nwatch_z = { js = inf }\n', encoding="utf-8")
    cfg = load_thresholds(path)
    cfg.check_outputs(OUTPUTS)
    assert cfg.resolve("watch_z", "numeric") == {"js": float("inf"), "psi": 0.25}
    assert cfg.resolve("genre__0", "categorical") == {"linf": 0.2}  # pattern
    assert cfg.resolve("genre__1", "categorical") == {"linf": 0.3}  # exact name beats pattern
    assert cfg.source == str(path)


def test_json_file_same_structure(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"features": {"watch_z": {"psi": 0.5}}}), encoding="utf-8")
    cfg = load_thresholds(path)
    assert cfg.defaults == DEFAULTS
    assert cfg.resolve("watch_z", "numeric") == {"js": 0.1, "psi": 0.5}


def test_exceeded_is_strictly_greater() -> None:
    assert exceeded({"js": 0.1, "psi": 0.3}, {"js": 0.1, "psi": 0.2}) == ("psi",)
    assert exceeded({"linf": 0.5}, {"linf": float("inf")}) == ()


@pytest.mark.parametrize("text, match", [
    ('[defaults]\nkl = 0.1\n', "unknown statistic 'kl'"),
    ('[defaults]\njs = -1\n', r"js=-1 must be a number >= 0"),
    ('[default]\njs = 0.1\n', r"unknown top-level keys \['default'\]"),
    ('[features]\nwatch_z = 0.1\n', "must be a table"),
    ('[features\n', "not valid TOML"),
])
def test_bad_files_name_the_fix(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ThresholdConfigError, match=match):
        load_thresholds(path)


def test_overrides_must_match_outputs_and_their_kind(tmp_path: Path) -> None:
    typo = ThresholdConfig(overrides=(("wach_z", {"js": 0.2}),))
    with pytest.raises(ThresholdConfigError, match="'wach_z' matches no encoded output"):
        typo.check_outputs(OUTPUTS)
    wrong = ThresholdConfig(overrides=(("watch_z", {"linf": 0.2}),))
    with pytest.raises(ThresholdConfigError, match=r"sets \['linf'\].*only have \['js', 'psi'\]"):
        wrong.check_outputs(OUTPUTS)
    with pytest.raises(ThresholdConfigError, match="cannot read thresholds file"):
        load_thresholds(tmp_path / "absent.toml")
    (tmp_path / "t.yaml").write_text("js: 1", encoding="utf-8")
    with pytest.raises(ThresholdConfigError, match="use .toml or .json"):
        load_thresholds(tmp_path / "t.yaml")
