"""The notebook builds a small training set when executed top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

from spark_jobs.training_set import Manifest

ROOT = Path(__file__).resolve().parents[2]


def test_training_set_notebook_runs(pipeline, tmp_path, monkeypatch) -> None:
    out = tmp_path / "notebook_set"
    monkeypatch.setenv("SKEWLESS_LABELS", str(pipeline["labels_dir"]))
    monkeypatch.setenv("SKEWLESS_NOTEBOOK_OUT", str(out))
    nb = nbformat.read(ROOT / "notebooks" / "build_training_set.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    manifest = Manifest.read(out)
    assert manifest.row_count == 2000
    assert manifest.state_hash == pipeline["enc"].content_hash
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
