"""``feast apply`` in this process (:func:`feast_bridge.apply.apply_repo`, what ``skewless fit``
and the main job run) registers exactly what the ``feast`` CLI registers, says the same
"awaits a fit" lines, raises a bad declaration's own error, and leaves the process as it was."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from feast_bridge.apply import apply_repo
from feast_bridge.services import get_service
from feast_bridge.store import open_store
from tests.second_domain.conftest import REPO, feast_apply


def _linked_data(src: Path, dst: Path) -> Path:
    """A data folder with the grocery tables (symlinked) and a registry of its own."""
    dst.mkdir()
    for entry in src.iterdir():
        if entry.name != "registry.db":
            (dst / entry.name).symlink_to(entry)
    return dst


def _timeless(message):
    """``message`` without its timestamps (every ``google.protobuf.Timestamp`` field, however
    deep): the time an object was applied is the one thing two applies may differ in."""
    for field, value in message.ListFields():
        if field.type != field.TYPE_MESSAGE:
            continue
        if field.message_type.full_name == "google.protobuf.Timestamp":
            message.ClearField(field.name)
        elif field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].type == field.TYPE_MESSAGE:
                for item in value.values():
                    _timeless(item)
        elif field.is_repeated:
            for item in value:
                _timeless(item)
        else:
            _timeless(value)
    return message


def _specs(store) -> dict[tuple[str, str], bytes]:
    """Every registered object by kind and name, without timestamps (an on-demand view's
    function compared by its source text, which is what Feast rebuilds it from)."""
    out = {}
    for kind, objects in (("entity", store.list_entities()),
                          ("source", store.list_data_sources()),
                          ("view", store.list_feature_views()),
                          ("on-demand view", store.list_on_demand_feature_views()),
                          ("service", store.list_feature_services())):
        for obj in objects:
            proto = _timeless(obj.to_proto())
            if kind == "on-demand view":
                proto.spec.feature_transformation.user_defined_function.ClearField("body")
            out[(kind, obj.name)] = proto.SerializeToString(deterministic=True)
    return out


def _skewless_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("skewless:")]


def test_in_process_apply_registers_what_the_cli_registers(grocery, tmp_path, monkeypatch
                                                          ) -> None:
    state = tmp_path / "state"  # one service fitted, the other awaiting its fit
    state.mkdir()
    shutil.copy(grocery["state"] / "basket_value_state.json", state)
    data = _linked_data(grocery["data"], tmp_path / "data")  # same paths in both registries
    monkeypatch.setenv("GROCERY_STATE_DIR", str(state))
    monkeypatch.setenv("GROCERY_DATA_DIR", str(data))
    cli = feast_apply()
    assert cli.returncode == 0, cli.stderr
    (tmp_path / "cli").mkdir()
    (data / "registry.db").rename(tmp_path / "cli" / "registry.db")  # the CLI's, put aside

    cwd, path = os.getcwd(), list(sys.path)
    store = open_store(REPO)
    applied = apply_repo(store)
    assert (os.getcwd(), sys.path) == (cwd, path)
    assert "definitions" not in sys.modules  # the next repo's `definitions` is its own
    lines = _skewless_lines(applied.stderr)
    assert lines == _skewless_lines(cli.stderr) and len(lines) == 1
    assert "'substitution' awaits a fit" in lines[0]
    # the store that applied sees the result at once, without a reload
    assert get_service(store, "basket_value").state_hash == \
        grocery["encs"]["basket_value"].content_hash
    assert get_service(store, "substitution").state_hash is None

    monkeypatch.setenv("GROCERY_DATA_DIR", str(tmp_path / "cli"))  # to read the CLI's registry
    from_cli = _specs(open_store(REPO))
    assert ("on-demand view", "basket_value_encoded") in from_cli
    assert _specs(store) == from_cli


def test_a_bad_declaration_raises_its_own_error_and_leaves_no_trace(tmp_path, monkeypatch
                                                                   ) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("__pycache__", "data"))
    with (repo / "definitions.py").open("a", encoding="utf-8") as f:
        f.write('\nbroken = encoded_service("broken", features=[customer_profile], encoders=[],'
                ' state_path=STATE_DIR / "broken.json")\n')
    monkeypatch.setenv("GROCERY_DATA_DIR", str(tmp_path / "data"))
    cwd, path = os.getcwd(), list(sys.path)
    with pytest.raises(ValueError, match="'broken' declares no encoders; pass encoders"):
        apply_repo(open_store(repo))
    assert (os.getcwd(), sys.path) == (cwd, path)
    assert "definitions" not in sys.modules
