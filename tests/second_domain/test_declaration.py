"""Declaring two services in a user's own repo: what `feast apply` registers before and after
a fit, and bad declarations and calls failing with errors that name the fix."""

from __future__ import annotations

import shutil

import pytest
from feast import Entity, FeatureView, Field, RequestSource, ValueType
from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
from feast.types import Float64, String

from encoders import OneHot, ZScore
from feast_bridge.declare import encoded_service
from feast_bridge.services import get_service, service_names
from serving.online import OnlineEncoder
from spark_jobs.training_set import build_training_set, load_labels
from tests.second_domain.conftest import REPO, SERVICES, feast_apply


def test_apply_before_fit_registers_raw_services_awaiting_a_fit(grocery) -> None:
    first = grocery["first_apply"]
    for s in SERVICES:
        assert f"service {s!r} awaits a fit" in first.stderr, first.stderr
        assert f"skewless fit --service {s}" in first.stderr
    before = grocery["before"]
    assert set(before) == set(SERVICES)
    assert all(info.state_hash is None for info in before.values())
    assert before["basket_value"].entity_keys == ("customer_id",)
    assert before["basket_value"].entity_types == (("customer_id", "STRING"),)
    assert before["basket_value"].request_inputs == ()
    sub = before["substitution"]
    assert sub.entity_types == (("customer_id", "STRING"), ("product_id", "INT64"),
                                ("store_code", "STRING"))
    assert sub.request_inputs == (("channel", "STRING"), ("basket_size", "INT64"))
    assert [v.name for v in sub.views] == ["customer_profile", "product_stats", "store_ops"]
    assert sub.views[0].features == ("loyalty_tier", "favourite_aisle", "orders_28d")


def test_unfitted_services_refuse_training_sets_naming_the_fit(grocery) -> None:
    for s in SERVICES:
        msg = grocery["prefit_errors"][s]
        assert f"service {s!r} is not fitted yet" in msg
        assert f"skewless fit --service {s}" in msg


def test_after_fit_both_services_are_published_with_their_own_state(grocery) -> None:
    store, infos, pub = grocery["store"], grocery["infos"], grocery["published"]
    assert service_names(store) == SERVICES
    hashes = {s: infos[s].require_fitted() for s in SERVICES}
    assert hashes["basket_value"] != hashes["substitution"]
    for s in SERVICES:
        assert hashes[s] == pub[s].content_hash == grocery["encs"][s].content_hash
        assert infos[s].state_path == grocery["state"] / f"{s}_state.json"
        assert infos[s].state_path.exists()
    assert {v.name for v in store.list_on_demand_feature_views()} == \
        {"basket_value_encoded", "substitution_encoded"}
    assert {fs.name for fs in store.list_feature_services()} == \
        {"basket_value", "basket_value_raw", "substitution", "substitution_raw"}
    # the shared view was read for both fits; the substitution fit read all three views
    assert set(pub["substitution"].rows_per_view) == {"customer_profile", "product_stats",
                                                     "store_ops"}
    assert pub["basket_value"].rows_per_view["customer_profile"] == \
        pub["substitution"].rows_per_view["customer_profile"]


def test_unknown_service_lists_the_known_ones(grocery) -> None:
    with pytest.raises(LookupError) as err:
        get_service(grocery["store"], "basket")
    assert "'basket'" in str(err.value) and "['basket_value', 'substitution']" in str(err.value)
    with pytest.raises(LookupError, match=r"several services \['basket_value', 'substitution'\]"):
        get_service(grocery["store"])
    with pytest.raises(LookupError, match="known services"):
        OnlineEncoder(grocery["store"], service="checkout")


# --- bad declarations ----------------------------------------------------------------------
customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.STRING)
profile = FeatureView(
    name="customer_profile", entities=[customer],
    schema=[Field(name="avg_basket_eur_28d", dtype=Float64),
            Field(name="loyalty_tier", dtype=String)],
    source=SparkSource(name="p", path="/nowhere", file_format="parquet",
                       timestamp_field="event_timestamp"))
checkout = RequestSource(name="checkout", schema=[Field(name="channel", dtype=String)])


def test_an_encoder_input_no_view_serves_names_the_fix(tmp_path) -> None:
    with pytest.raises(ValueError) as err:
        encoded_service("bad", features=[profile], request_source=checkout,
                        encoders=[ZScore("z", input="basket_eur")],
                        state_path=tmp_path / "s.json")
    msg = str(err.value)
    assert "encoder 'z' reads ['basket_eur']" in msg
    assert "add the view to features=[...], or the field to the RequestSource" in msg


def test_two_encoders_with_one_name_names_the_fix(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"two encoders are named \['tier'\]; give each encoder "
                                         "a unique name"):
        encoded_service("bad", features=[profile],
                        encoders=[OneHot("tier", input="loyalty_tier"),
                                  ZScore("tier", input="avg_basket_eur_28d")],
                        state_path=tmp_path / "s.json")


def test_feast_apply_of_a_bad_declaration_fails_naming_the_fix(grocery, tmp_path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    text = (repo / "definitions.py").read_text(encoding="utf-8")
    bad = text.replace('Numeric("basket_size_n", input="basket_size"',
                       'Numeric("basket_size_n", input="basket_items"')
    assert bad != text
    (repo / "definitions.py").write_text(bad, encoding="utf-8")
    proc = feast_apply(repo, env={"GROCERY_DATA_DIR": str(tmp_path / "data")})
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "encoder 'basket_size_n' reads ['basket_items']" in out, out[-3000:]
    assert "or the field to the RequestSource" in out


# --- bad labels ----------------------------------------------------------------------------
def test_labels_missing_a_join_key_name_the_key_and_the_service(grocery, tmp_path) -> None:
    labels = load_labels(grocery["spark"], grocery["labels"]["substitution"]).drop("store_code")
    with pytest.raises(ValueError) as err:
        build_training_set(grocery["store"], labels, None, tmp_path / "ts",
                           service="substitution", timestamp_column="asked_at")
    msg = str(err.value)
    assert "['store_code']" in msg and "'substitution'" in msg
    assert "['customer_id', 'product_id', 'store_code']" in msg


def test_labels_missing_a_request_input_name_it(grocery, tmp_path) -> None:
    labels = load_labels(grocery["spark"], grocery["labels"]["substitution"]).drop("basket_size")
    with pytest.raises(ValueError, match=r"lack the request inputs \['basket_size'\] that "
                                         "service 'substitution' declares"):
        build_training_set(grocery["store"], labels, None, tmp_path / "ts",
                           service="substitution", timestamp_column="asked_at")


def test_labels_with_another_timestamp_column_name_the_option(grocery, tmp_path) -> None:
    labels = load_labels(grocery["spark"], grocery["labels"]["basket_value"])
    with pytest.raises(ValueError, match="no timestamp column 'event_timestamp'.*"
                                         "--timestamp-column"):
        build_training_set(grocery["store"], labels, None, tmp_path / "ts",
                           service="basket_value")
