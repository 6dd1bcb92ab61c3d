"""Several Spark DataFrames collected to the driver in one job.

Each ``toArrow`` is a job of its own, and on small inputs a job's fixed cost (planning, stage
scheduling, task launch) outweighs its work. :func:`collect_together` unions the frames (each
frame's columns prefixed with its index, a tag column added, missing columns null) so Spark
plans one job and runs the branches' stages side by side, then splits the Arrow table again.
Types are kept: each frame's columns come back with the Arrow types its own ``toArrow`` gives.

For small results only (samples, per-entity rows): everything lands in driver memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

_TAG = "__skewless_frame"


def collect_together(frames: Sequence[Any]) -> list[pa.Table]:
    """``[f.toArrow() for f in frames]``, in one Spark job (see the module docstring); an empty
    sequence gives ``[]``."""
    from pyspark.sql import functions as F

    if not frames:
        return []
    tagged = [f.select(F.lit(i).alias(_TAG), *[f[c].alias(f"__{i}__{c}") for c in f.columns])
              for i, f in enumerate(frames)]
    union = tagged[0]
    for f in tagged[1:]:
        union = union.unionByName(f, allowMissingColumns=True)
    table = union.toArrow()
    out = []
    for i, f in enumerate(frames):
        part = table.filter(pc.equal(table.column(_TAG), i))
        out.append(part.select([f"__{i}__{c}" for c in f.columns]).rename_columns(f.columns))
    return out
