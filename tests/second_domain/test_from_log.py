"""``skewless training-set --from-log`` on the grocery repo (string keys, a request source, two
services in one log): label rows served through the HTTP app at the online store's time, then
the training set built from the served facts equals the point-in-time training set of the same
labels, for both services."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from serving.api import create_app
from serving.settings import Settings
from skewless.cli import run
from tests.second_domain.conftest import AS_OF, LABELS, ONLINE_DB, REPO, SERVICES


def _labels(grocery, service: str, n: int = 40) -> pd.DataFrame:
    info = grocery["infos"][service]
    labels = pd.read_parquet(grocery["labels"][service])
    picked = labels.sample(n, random_state=11).drop_duplicates(list(info.entity_keys))
    return picked.assign(asked_at=pd.Timestamp(AS_OF)).reset_index(drop=True)


def _sorted_rows(path, columns) -> list[tuple]:
    table = pq.read_table(path / "data")
    return sorted(zip(*(table.column(c).to_pylist() for c in columns)), key=repr)


@pytest.fixture(scope="module")
def served(online_store, tmp_path_factory):
    base = tmp_path_factory.mktemp("grocery_from_log")
    settings = Settings(repo=REPO, log_dir=base / "log", hash_check_seconds=0.0,
                        ready_check_seconds=0.0, redis_db=ONLINE_DB)
    labels = {}
    with TestClient(create_app(settings)) as client:
        for service in SERVICES:
            info = online_store["infos"][service]
            frame = _labels(online_store, service)
            rows = json.loads(frame[[*info.entity_keys, *info.request_names]]
                              .convert_dtypes().to_json(orient="records"))
            got = client.post(f"/services/{service}/features",
                              json={"entities": rows, "request_time": AS_OF.isoformat()})
            assert got.status_code == 200, got.text
            labels[service] = base / f"{service}.parquet"
            frame.to_parquet(labels[service])
    return {"base": base, "log": base / "log", "labels": labels}


@pytest.mark.parametrize("service", SERVICES)
def test_the_set_from_the_log_equals_the_point_in_time_set(online_store, served, service,
                                                           capsys) -> None:
    base, label_cols = served["base"], LABELS[service][1]
    common = ["--repo", str(REPO), "training-set", "--service", service, "--labels",
              str(served["labels"][service]), "--timestamp-column", "asked_at"]
    assert run([*common, "--out", str(base / f"pit-{service}")]) == 0, capsys.readouterr()
    assert run([*common, "--out", str(base / f"log-{service}"), "--from-log",
                str(served["log"])]) == 0, capsys.readouterr()
    assert "0 label(s) matched no served row" in capsys.readouterr().out
    info, enc = online_store["infos"][service], online_store["encs"][service]
    columns = [*info.entity_keys, "asked_at", *info.request_names, *label_cols, *enc.names]
    pit = _sorted_rows(base / f"pit-{service}", columns)
    logged = _sorted_rows(base / f"log-{service}", columns)
    assert len(pit) == len(pd.read_parquet(served["labels"][service]))
    assert logged == pit


def test_bad_input_exits_2_naming_the_fix(online_store, served, capsys) -> None:
    common = ["--repo", str(REPO), "training-set", "--service", SERVICES[0], "--labels",
              str(served["labels"][SERVICES[0]]), "--timestamp-column", "asked_at",
              "--out", str(served["base"] / "never")]
    assert run([*common, "--from-log", str(served["base"] / "nowhere")]) == 2
    assert "--from-log" in capsys.readouterr().err
    assert run([*common, "--from-log", str(served["log"]), "--match", "closest"]) == 2
    assert "choose one of time, request_id" in capsys.readouterr().err
