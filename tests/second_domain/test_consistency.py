"""``skewless consistency`` on the grocery repo: string keys, a request source, and one log
holding both services' requests (through the HTTP app) — the day's metrics of one service
count only its rows, and a correct server matches on every output."""

from __future__ import annotations

import json

import pandas as pd
from fastapi.testclient import TestClient

from serving.api import create_app
from serving.settings import Settings
from skew.consistency_table import read_history
from skewless.cli import run
from tests.second_domain.conftest import AS_OF, ONLINE_DB, REPO, SERVICES


def _rows(grocery, service: str, n: int = 30) -> list[dict]:
    info = grocery["infos"][service]
    labels = pd.read_parquet(grocery["labels"][service])
    cols = [*info.entity_keys, *info.request_names]
    picked = labels[cols].sample(n, random_state=5).drop_duplicates(list(info.entity_keys))
    # nullable dtypes: an int column with nulls stays int (not 17.0), nulls become null
    return json.loads(picked.convert_dtypes().to_json(orient="records"))


def test_consistency_of_one_service_in_a_shared_log(online_store, tmp_path, capsys) -> None:
    settings = Settings(repo=REPO, log_dir=tmp_path / "log", hash_check_seconds=0.0,
                        ready_check_seconds=0.0, redis_db=ONLINE_DB)
    sent = {}
    with TestClient(create_app(settings)) as client:
        for service in SERVICES:
            sent[service] = _rows(online_store, service)
            got = client.post(f"/services/{service}/features",
                              json={"entities": sent[service],
                                    "request_time": AS_OF.isoformat()})
            assert got.status_code == 200, got.text
    table = tmp_path / "table"
    code = run(["--repo", str(REPO), "consistency", "--service", "substitution", "--date",
                AS_OF.date().isoformat(), "--log", str(tmp_path / "log"), "--out", str(table)])
    printed = capsys.readouterr()
    assert code == 0, printed
    rows = read_history(table, "substitution")
    names = list(online_store["encs"]["substitution"].names)
    assert [f.feature for f in rows] == names
    assert all(f.rows == len(sent["substitution"]) and f.match_rate == 1.0 for f in rows)
    assert not read_history(table, "basket_value")
    assert (table / "substitution.html").read_text().count("data:image/png") == len(names)
