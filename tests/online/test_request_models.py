"""The pieces of the generic server that need no store: request models generated from a
synthetic :class:`ServiceInfo` (string and int join keys, every request-input type), the
client's entity-row checks, :class:`OnlineVectors`, the settings parsers and the input
limits' settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from feast_bridge.services import ServiceInfo, ViewInfo
from serving.client import OnlineVectors, check_entity_rows
from serving.limits import is_json
from serving.request_models import (
    KEY_MAX_LENGTH,
    UnsupportedServiceError,
    build_models,
)
from serving.settings import Settings, max_header_bytes, parse_models, parse_names


def service(keys=(("shop_id", "STRING"), ("sku", "STRING")),
            inputs=(("channel", "STRING"), ("basket_value", "DOUBLE"), ("is_app", "BOOL"),
                    ("seen_at", "UNIX_TIMESTAMP"), ("page", "INT32")),
            name: str = "shop_ranker") -> ServiceInfo:
    """A service as the registry would describe it, with string join keys."""
    return ServiceInfo(
        name=name, raw_service=f"{name}_raw", encoded_view=f"{name}_encoded", specs=(),
        state_path=Path("/nowhere/state.json"),
        views=tuple(ViewInfo(f"{k}_view", (k,), timedelta(days=1), ("x",), ("DOUBLE",))
                    for k, _ in keys),
        entity_keys=tuple(k for k, _ in keys), entity_types=tuple(keys),
        request_source="ctx" if inputs else None, request_inputs=tuple(inputs),
        state_hash="sha256:00")


def _errors(model, body) -> list[tuple]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(body)
    return [(e["loc"], e["type"]) for e in info.value.errors()]


def test_string_keys_and_request_inputs_come_from_the_service() -> None:
    m = build_models(service())
    body = m.features_request.model_validate({
        "entities": [{"shop_id": "s1", "sku": "a"}, {"shop_id": "s1", "sku": "b",
                                                     "channel": "app"}],
        "channel": "web", "basket_value": 12, "seen_at": "2024-02-05T10:00:00"})
    rows, ctx = m.feature_rows(body)
    assert rows == [{"shop_id": "s1", "sku": "a"}, {"shop_id": "s1", "sku": "b",
                                                   "channel": "app"}]
    assert ctx["channel"] == "web" and ctx["basket_value"] == 12.0
    assert ctx["seen_at"].tzinfo is not None and ctx["is_app"] is None
    rank = m.rank_request.model_validate({"shop_id": "s1", "candidates": ["a", "b"]})
    assert m.candidate_key == "sku"
    assert m.rank_rows(rank)[0] == [{"shop_id": "s1", "sku": "a"}, {"shop_id": "s1", "sku": "b"}]
    ranked = m.ranked.model_validate({"sku": "a", "score": 0.5})
    assert ranked.model_dump(by_alias=True) == {"sku": "a", "score": 0.5}


@pytest.mark.parametrize("row, loc", [
    ({"shop_id": 1, "sku": "a"}, "shop_id"),           # a number for a STRING key
    ({"shop_id": "", "sku": "a"}, "shop_id"),          # empty id
    ({"shop_id": "s" * (KEY_MAX_LENGTH + 1), "sku": "a"}, "shop_id"),
    ({"sku": "a"}, "shop_id"),                         # missing key
    ({"shop_id": "s", "sku": "a", "colour": "red"}, "colour"),
    ({"shop_id": "s", "sku": "a", "page": "2"}, "page"),  # strict int request input
])
def test_bad_rows_are_named(row, loc) -> None:
    errs = _errors(build_models(service()).features_request, {"entities": [row]})
    assert any(loc in e[0] for e in errs), errs


def test_int_keys_are_strict_ids_within_their_type() -> None:
    m = build_models(service(keys=(("user", "INT64"), ("item", "INT32")), inputs=()))
    ok = m.features_request.model_validate({"entities": [{"user": 2**63 - 1, "item": 0}]})
    assert m.feature_rows(ok) == ([{"user": 2**63 - 1, "item": 0}], {})
    for bad in ({"user": -1, "item": 0}, {"user": "1", "item": 0}, {"user": 1.0, "item": 0},
                {"user": True, "item": 0}, {"user": 1, "item": 2**31}):
        errs = _errors(m.features_request, {"entities": [bad]})
        assert errs and all(e[0][:2] == ("entities", 0) for e in errs), (bad, errs)
    assert "candidates" in str(_errors(m.rank_request, {"user": 1, "candidates": ["x"]}))
    assert m.rank_request.model_json_schema()["required"] == ["user", "candidates"]


def test_request_input_types_and_names_in_the_schema() -> None:
    schema = build_models(service()).features_request.model_json_schema()
    props = schema["properties"]
    assert set(props) == {"entities", "request_time", "channel", "basket_value", "is_app",
                          "seen_at", "page"}
    assert schema["additionalProperties"] is False
    kinds = {n: [t.get("type") for t in props[n]["anyOf"]][0] for n in
             ("channel", "basket_value", "is_app", "seen_at", "page")}
    assert kinds == {"channel": "string", "basket_value": "number", "is_app": "boolean",
                     "seen_at": "string", "page": "integer"}
    errs = _errors(build_models(service()).features_request,
                   {"entities": [{"shop_id": "s", "sku": "a"}], "seen_at": "1900-01-01T00:00Z"})
    assert any("seen_at" in e[0] for e in errs)


def test_names_that_clash_with_pydantic_or_the_body_are_handled() -> None:
    m = build_models(service(keys=(("model_id", "INT64"), ("json", "STRING")), inputs=()))
    body = m.rank_request.model_validate({"model_id": 3, "candidates": ["a"]})
    assert m.rank_rows(body)[0] == [{"model_id": 3, "json": "a"}]
    with pytest.raises(UnsupportedServiceError, match="reserve"):
        build_models(service(keys=(("candidates", "INT64"),), inputs=()))
    with pytest.raises(UnsupportedServiceError, match="both a join key and a request input"):
        build_models(service(keys=(("sku", "STRING"),), inputs=(("sku", "STRING"),)))


@pytest.mark.parametrize("keys, inputs, message", [
    ((("price", "FLOAT"),), (), "join key 'price' is typed FLOAT"),
    ((("sku", "STRING"),), (("tags", "STRING_LIST"),), "request input 'tags' is typed"),
])
def test_unsupported_types_refuse_with_the_fix(keys, inputs, message) -> None:
    with pytest.raises(UnsupportedServiceError, match=message):
        build_models(service(keys=keys, inputs=inputs))


def test_candidate_key_must_be_a_join_key() -> None:
    assert build_models(service(), "shop_id").candidate_key == "shop_id"
    with pytest.raises(UnsupportedServiceError, match="SKEWLESS_RANK_CANDIDATE_KEY"):
        build_models(service(), "title_id")


@pytest.mark.parametrize("rows, message", [
    ([{"shop_id": "s", "sku": "a", "colour": 1}], r"unknown keys \['colour'\].*'shop_id', "
                                                   r"'sku'.*'channel'"),
    ([{"shop_id": "s"}], r"lacks the join keys \['sku'\]"),
    ([{"shop_id": "s", "sku": None}], r"lacks the join keys \['sku'\]"),
    ([{"shop_id": "s", "sku": "a", "request_time": 1}], "pass request_time="),
    ([{"shop_id": 5, "sku": "a"}], "is STRING: pass a str"),
    ([("s", "a")], "pass a dict keyed by the join keys"),
    ({"shop_id": "s", "sku": "a"}, "must be a list of dicts"),
])
def test_client_row_checks_name_the_problem_and_fix(rows, message) -> None:
    with pytest.raises(ValueError, match=message):
        check_entity_rows(service(), rows)


def test_client_row_checks_int_keys() -> None:
    info = service(keys=(("user", "INT64"),), inputs=())
    assert check_entity_rows(info, [{"user": 1}]) == [{"user": 1}]
    for bad in ("1", True, 1.0):
        with pytest.raises(ValueError, match="is INT64: pass an int"):
            check_entity_rows(info, [{"user": bad}])


def test_online_vectors_to_dict_is_column_wise() -> None:
    got = OnlineVectors(service="s", state_hash="h", entity_keys=("sku",), names=("a", "b"),
                        entity_rows=({"sku": "x", "channel": "web"}, {"sku": "y"}),
                        vectors=((1.0, 2.0), (3.0, 4.0)),
                        statuses=({"v": "present"}, {"v": "missing"}))
    assert len(got) == 2
    assert got.to_dict() == {"sku": ["x", "y"], "a": [1.0, 3.0], "b": [2.0, 4.0]}
    assert got.to_dict(include_statuses=True)["v__status"] == ["present", "missing"]


def test_settings_parsers_and_env(monkeypatch, tmp_path) -> None:
    assert parse_names(" a, b,,a ") == ("a", "b")
    assert parse_names(None) == ()
    assert parse_models("x=a.json, y = b.json") == (("x", Path("a.json").resolve()),
                                                    ("y", Path("b.json").resolve()))
    for bad in ("x", "=a.json", "x=", "x=a.json,x=b.json"):
        with pytest.raises(ValueError, match="SKEWLESS_MODELS"):
            parse_models(bad)
    monkeypatch.setenv("SKEWLESS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SKEWLESS_SERVICES", "a,b")
    monkeypatch.setenv("SKEWLESS_SERVICE", "b")
    monkeypatch.setenv("SKEWLESS_MODELS", f"b={tmp_path / 'm.json'}")
    monkeypatch.setenv("SKEWLESS_RANK_CANDIDATE_KEY", "sku")
    monkeypatch.delenv("SKEWLESS_STATE_PATH", raising=False)
    monkeypatch.delenv("SKEWLESS_MODEL_PATH", raising=False)
    s = Settings.from_env()
    assert (s.services, s.default_service, s.rank_candidate_key) == (("a", "b"), "b", "sku")
    assert s.models == (("b", tmp_path / "m.json"),) and s.models_dir == tmp_path / "models"
    assert s.state_path is None and s.model_path is None


def test_input_limits_come_from_the_env_and_name_their_variable(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SKEWLESS_DATA_DIR", str(tmp_path))
    for name in ("SKEWLESS_MAX_BODY_BYTES", "SKEWLESS_MAX_HEADER_BYTES", "SKEWLESS_MAX_BATCH",
                 "SKEWLESS_MAX_CANDIDATES"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env()
    # default: 1 KiB per row of the larger row limit + 64 KiB; the header limit 16 KiB
    assert s.body_limit == 1024 * max(s.max_batch, s.max_candidates) + 64 * 1024
    assert replace(s, max_candidates=5000).body_limit == 1024 * 5000 + 64 * 1024
    assert max_header_bytes() == 16384
    monkeypatch.setenv("SKEWLESS_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("SKEWLESS_MAX_HEADER_BYTES", "4096")
    s = Settings.from_env()
    assert (s.body_limit, max_header_bytes()) == (2048, 4096)
    for name, bad in (("SKEWLESS_MAX_BODY_BYTES", "1MB"), ("SKEWLESS_MAX_BODY_BYTES", "0"),
                      ("SKEWLESS_MAX_HEADER_BYTES", "100")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValueError, match=name):
            Settings.from_env()
        monkeypatch.setenv(name, "4096")


@pytest.mark.parametrize("content_type, json_", [
    ("application/json", True), ("Application/JSON; charset=utf-8", True),
    ("application/merge-patch+json", True), ("text/plain", False), ("text/json", False),
    ("application/x-www-form-urlencoded", False), ("application/jsonp", False), ("", False)])
def test_json_content_types_are_those_fastapi_parses(content_type, json_) -> None:
    assert is_json(content_type) is json_
