"""Train the ranking model (logistic regression) on a training set and save it as JSON.

The model records the encoder-state hash of the training set's manifest; the server refuses a
model whose hash is not the published state's. The last 20% of rows by time are held out and
the hold-out AUC is returned. Rows are read with pyarrow (at most ``max_rows``). The label is
the manifest's first label column (0/1); a set without labels or with one class raises
``ValueError`` naming the fix.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def train(training_set: Path, out: Path, max_rows: int = 500_000) -> dict:
    import numpy as np
    import pyarrow.dataset as ds
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from scoring.linear_model import LinearModel
    from spark_jobs.training_set import Manifest

    manifest = Manifest.read(training_set)
    names = [n for n, dtype in manifest.schema if dtype == "float64"]  # see LinearModel
    if not manifest.label_columns:
        raise ValueError(f"the training set {training_set} has no label column; build it "
                         "with --label-column")
    label = manifest.label_columns[0]
    ts = manifest.timestamp_column
    table = ds.dataset(Path(training_set) / "data", format="parquet").to_table(
        columns=[ts, label, *names])
    if table.num_rows > max_rows:
        table = table.slice(0, max_rows)
    table = table.sort_by(ts)
    x = np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype("float64")
                         for n in names])
    y = table.column(label).to_numpy(zero_copy_only=False)
    if len(set(y.tolist())) < 2:
        raise ValueError(f"labels in {training_set} have one class only; a logistic "
                         "regression needs both: use more labels")
    cut = int(len(y) * 0.8)
    clf = LogisticRegression(max_iter=2000)
    clf.fit(x[:cut], y[:cut])
    auc = float(roc_auc_score(y[cut:], clf.predict_proba(x[cut:])[:, 1])) if len(
        set(y[cut:].tolist())) > 1 else float("nan")
    coef = tuple(float(c) for c in clf.coef_[0])
    digest = hashlib.sha256(repr((manifest.state_hash, coef, float(clf.intercept_[0])))
                            .encode()).hexdigest()[:12]
    model = LinearModel(model_id=f"logreg-{digest}", state_hash=manifest.state_hash,
                        names=tuple(names), coef=coef, intercept=float(clf.intercept_[0]),
                        trained_on=str(Path(training_set).resolve()))
    model.save(out)
    return {"model_id": model.model_id, "rows": len(y), "holdout_auc": auc, "path": str(out)}
