"""Encoder-set JSON: loading rejects anything that is not exactly a known, intact state."""

from __future__ import annotations

import json

import pytest

from encoders import StateError, dumps, load, loads, save
from tests.encoders.catalogue import full_set


@pytest.fixture(scope="module")
def doc() -> dict:
    return json.loads(dumps(full_set()))


def _mutated(doc: dict, fn) -> str:
    d = json.loads(json.dumps(doc))
    fn(d)
    return json.dumps(d)


def test_save_load_round_trip(tmp_path) -> None:
    enc = full_set()
    path = save(enc, tmp_path / "sub" / "set.json")
    assert load(path) == enc
    assert load(path, expected_hash=enc.content_hash).content_hash == enc.content_hash
    assert not list(path.parent.glob("*.tmp"))


def test_state_is_json_not_pickle(tmp_path) -> None:
    text = save(full_set(), tmp_path / "s.json").read_text(encoding="utf-8")
    assert json.loads(text)["format"] == "skewless.encoder_set"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["encoders"][0].update(kind="telepathy"), "unknown kind 'telepathy'.*Upgrade"),
        (lambda d: d["encoders"][0].update(version=2), "version 2.*reads version 1"),
        (lambda d: d.update(format_version=9), "format_version 9"),
        (lambda d: d.update(format="other"), "not an encoder-set document"),
        (lambda d: d["encoders"][0]["spec"].update(colour="red"), "does not match.*re-fit"),
        (lambda d: d["encoders"][4]["state"].pop("scale"), "does not match.*re-fit"),
        (lambda d: d["encoders"][4]["state"].update(scale=-1.0), "must be > 0"),
        (lambda d: d["encoders"][5]["state"].update(min=-1e308, max=1e308),
         "range max - min .* overflows a double.*re-fit"),
        (lambda d: d["encoders"][4]["state"].update(mean=1.0), "content_hash.*corrupted"),
        (lambda d: d.update(encoders={}), "must be a JSON list"),
    ],
)
def test_bad_documents_raise_naming_the_fix(doc, mutate, message) -> None:
    with pytest.raises(StateError, match=message):
        loads(_mutated(doc, mutate))


def test_expected_hash_mismatch_is_refused(doc) -> None:
    with pytest.raises(StateError, match="not the expected sha256:abc"):
        loads(json.dumps(doc), expected_hash="sha256:abc")


def test_missing_and_corrupt_files(tmp_path) -> None:
    with pytest.raises(StateError, match="run the fit step"):
        load(tmp_path / "absent.json")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"{\"format\": \"skewless.enc")
    with pytest.raises(StateError, match="not valid JSON"):
        load(bad)
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(StateError, match="not valid JSON"):
        load(bad)
