"""One way to start Spark for skewless: UTC, microsecond Parquet timestamps, loopback networking.

``get_spark`` is the only entry point. Configuration is layered, later layers winning:

1. built-in defaults (``DEFAULT_CONF`` plus ``spark.driver.memory`` from
   ``SKEWLESS_SPARK_DRIVER_MEMORY``, default ``2g``; with ``short_job=True`` the driver's Java
   options also carry ``SHORT_JOB_JAVA_OPTIONS``; on a local master — ``local``,
   ``local[N]``, ``local[*]``, ``local[N,F]`` — also ``LOCAL_CONF``),
2. ``SKEWLESS_SPARK_CONF`` from the environment: comma-separated ``key=value`` pairs
   (a value may contain ``=``; it may not contain ``,``),
3. the ``conf`` argument.

Two settings are invariants, not defaults: ``spark.sql.session.timeZone=UTC`` and
``spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS``. Asking for anything else raises
``ValueError``. They are also set on the returned session, so they hold even when
``getOrCreate`` hands back a session that already existed (whose static settings, such as the
master or the driver memory, can then no longer change: Spark's rule, not ours).

Environment side effects (only when the variable is unset): ``PYSPARK_PYTHON`` and
``PYSPARK_DRIVER_PYTHON`` become ``sys.executable`` (Spark's Python workers otherwise run
whatever ``python3`` is on ``PATH``), and ``SPARK_LOCAL_IP`` becomes ``127.0.0.1``.

Java: PySpark 4 needs Java 17 or newer. The check runs ``$JAVA_HOME/bin/java -version`` when
``JAVA_HOME`` is set, else ``java -version`` from ``PATH``, and raises ``RuntimeError`` naming the
fix when Java is missing, unparsable or older than 17.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from pyspark.sql import SparkSession

MIN_JAVA_MAJOR = 17
DEFAULT_MASTER = "local[2]"
DEFAULT_DRIVER_MEMORY = "2g"
JAVA_FIX = "install OpenJDK 17: apt-get install openjdk-17-jre-headless, or set JAVA_HOME"

#: Settings that must hold for every skewless Spark job (see module docstring).
INVARIANT_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}

#: Overridable defaults, sized for a small machine (2 cores).
DEFAULT_CONF: Mapping[str, str] = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}

#: Overridable defaults of a local master only (:func:`is_local_master`), where the driver is
#: the only machine: listing a source's partition folders in the driver instead of a Spark
#: job of one task per folder (Spark's default above 32 folders). A date-partitioned feature
#: table of 60 days cost a 60-task job per read; the listing itself takes milliseconds.
LOCAL_CONF: Mapping[str, str] = {
    "spark.sql.sources.parallelPartitionDiscovery.threshold": "100000",
}

#: Java options of a short job (``get_spark(short_job=True)``: small data, a few minutes at
#: most): the JVM's quick compiler only. The optimising compiler (C2) spends seconds of CPU
#: compiling Spark's code while a fresh JVM warms up and pays that back only on long jobs;
#: the demo's main job on the tiny preset used 79 s of CPU with it, 54 s without (BENCHMARKS.md).
#: With the quick compiler only, the JVM's code cache (48 MiB by default then) filled up
#: ~57 s into the main job ("CodeCache is full. Compiler has been disabled.") and the rest
#: ran interpreted; 240 MiB is the size the JVM reserves with both compilers.
SHORT_JOB_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"

#: Inputs up to this many bytes on disk make a short job (:func:`short_job_for`). A training
#: set of 100k demo labels (2.3 MiB) took 25 CPU-s with the quick compiler only, 38 without;
#: 1M labels (18 MiB) the same either way (68 / 70); 10M (~180 MiB) was not measured with it.
SHORT_JOB_INPUT_BYTES = 32 * 2**20


def short_job_for(*paths: str | os.PathLike[str], limit: int = SHORT_JOB_INPUT_BYTES) -> bool:
    """Whether a job whose size follows these inputs is a short one: every path is a local file
    or folder and their files total at most ``limit`` bytes. A path that is no local file or
    folder (a catalog table, a remote URI, a typo) is not known to be small: ``False``. The
    walk stops as soon as the total passes ``limit``, so a big folder costs little."""
    total = 0
    for path in map(os.fspath, paths):
        if os.path.isfile(path):
            total += os.path.getsize(path)
        elif os.path.isdir(path):
            for folder, _, files in os.walk(path):
                total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
                if total > limit:
                    return False
        else:
            return False
        if total > limit:
            return False
    return bool(paths)


def parse_conf(text: str) -> dict[str, str]:
    """Parse ``"k1=v1,k2=v2"`` into a dict.

    Blank entries (``"a=1,,b=2"``, trailing commas) are ignored; keys and values are stripped.
    An entry without ``=`` or with an empty key raises ``ValueError`` naming the fix.
    """
    out: dict[str, str] = {}
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(
                f"SKEWLESS_SPARK_CONF entry {item!r} is not key=value: write it as "
                "'spark.some.key=value' and separate entries with commas"
            )
        out[key.strip()] = value.strip()
    return out


def _java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        return candidate if os.path.exists(candidate) else None
    return shutil.which("java")


def parse_java_major(version_output: str) -> int | None:
    """Major version from ``java -version`` output: ``"1.8.0_392"`` → 8, ``"17.0.15"`` → 17,
    ``"21"`` → 21. Returns None when no quoted version string is found."""
    match = re.search(r'version "([^"]+)"', version_output)
    if not match:
        return None
    parts = re.split(r"[._+-]", match.group(1))
    try:
        first = int(parts[0])
        return int(parts[1]) if first == 1 and len(parts) > 1 else first
    except ValueError:
        return None


def check_java(min_major: int = MIN_JAVA_MAJOR) -> int:
    """Return the Java major version, or raise RuntimeError naming the fix."""
    java = _java_executable()
    if java is None:
        where = "JAVA_HOME/bin/java" if os.environ.get("JAVA_HOME") else "java on PATH"
        raise RuntimeError(f"Spark needs Java {min_major}+ but found no {where}: {JAVA_FIX}")
    try:
        proc = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"could not run '{java} -version' ({exc}): {JAVA_FIX}") from exc
    major = parse_java_major(proc.stderr + proc.stdout)
    if major is None:
        raise RuntimeError(f"could not read the version printed by '{java} -version': {JAVA_FIX}")
    if major < min_major:
        raise RuntimeError(f"Spark needs Java {min_major}+ but {java} is Java {major}: {JAVA_FIX}")
    return major


def is_local_master(master: str) -> bool:
    """``local``, ``local[N]``, ``local[*]``, ``local[N,F]``: driver and executors in one JVM
    (``local-cluster[...]`` starts executor JVMs of its own: not local here)."""
    return re.fullmatch(r"local(\[[^\]]*\])?", master.strip()) is not None


def resolve_master(master: str | None = None) -> str:
    """The master ``get_spark`` uses: the argument, else ``SKEWLESS_SPARK_MASTER``, else
    ``local[2]``."""
    return master or os.environ.get("SKEWLESS_SPARK_MASTER") or DEFAULT_MASTER


def resolve_conf(conf: Mapping[str, str] | None = None, *, short_job: bool = False,
                 master: str | None = None) -> dict[str, str]:
    """The full configuration ``get_spark`` would use (defaults < env < ``conf``).

    ``short_job`` adds ``SHORT_JOB_JAVA_OPTIONS`` to the default driver Java options (an
    ``spark.driver.extraJavaOptions`` from the environment or ``conf`` replaces them, as any
    default). ``LOCAL_CONF`` joins the defaults when the master (``spark.master`` of the
    environment or ``conf`` when set there, else :func:`resolve_master` of ``master``) is
    local. Raises ValueError when an invariant setting is overridden with another value.
    """
    env_conf = parse_conf(os.environ.get("SKEWLESS_SPARK_CONF", ""))
    given = {str(k): str(v) for k, v in (conf or {}).items()}
    effective = given.get("spark.master") or env_conf.get("spark.master") or resolve_master(
        master)
    merged: dict[str, str] = dict(DEFAULT_CONF)
    if is_local_master(effective):
        merged.update(LOCAL_CONF)
    if short_job:
        key = "spark.driver.extraJavaOptions"
        merged[key] = f"{merged[key]} {SHORT_JOB_JAVA_OPTIONS}"
    merged["spark.driver.memory"] = os.environ.get(
        "SKEWLESS_SPARK_DRIVER_MEMORY", DEFAULT_DRIVER_MEMORY
    )
    merged.update(env_conf)
    merged.update(given)
    for key, required in INVARIANT_CONF.items():
        if key in merged and merged[key] != required:
            raise ValueError(
                f"{key}={merged[key]!r} is not allowed: skewless requires {key}={required} "
                "(remove it from SKEWLESS_SPARK_CONF / conf)"
            )
        merged[key] = required
    return merged


def get_spark(
    app_name: str = "skewless",
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    *,
    short_job: bool = False,
) -> SparkSession:
    """Start (or reuse) a SparkSession configured for skewless.

    ``master``: the argument, else ``SKEWLESS_SPARK_MASTER``, else ``local[2]``.
    ``short_job``: see :func:`resolve_conf` (a static setting: it has no effect on a session
    that already exists). Raises RuntimeError when Java 17+ is missing, ValueError for bad
    configuration.
    """
    merged = resolve_conf(conf, short_job=short_job, master=master)
    check_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(resolve_master(master))
    for key, value in merged.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    for key, value in INVARIANT_CONF.items():
        spark.conf.set(key, value)
    spark.sparkContext.setLogLevel("WARN")
    return spark


def start_spark(
    app_name: str = "skewless",
    master: str | None = None,
    conf: Mapping[str, str] | None = None,
    *,
    short_job: bool = False,
) -> Future[SparkSession]:
    """:func:`get_spark` in a background thread: the JVM starts (seconds) while the caller does
    other work, e.g. ``import feast`` and reading the registry. ``.result()`` waits for the
    session and raises what ``get_spark`` raised (a missing Java, bad configuration). The
    thread is a daemon: a caller that fails before it waits exits at once (its JVM with it).

    PySpark is imported here, in the caller's thread, before the thread starts: imported by
    both at once (the thread's ``pyspark.sql`` while the caller's ``import feast`` reaches
    Feast's Spark offline store and its ``import pyspark``), one of them saw a partially
    initialised ``pyspark.sql`` and failed ("cannot import name 'SQLContext'") — seen in the
    training-set benchmark's Feast peer."""
    import pyspark.sql  # noqa: F401  (before the thread: see above)

    future: Future[SparkSession] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(get_spark(app_name, master, conf, short_job=short_job))
        except BaseException as exc:  # handed to the caller by .result()
            future.set_exception(exc)

    threading.Thread(target=run, name="skewless-spark-start", daemon=True).start()
    return future
