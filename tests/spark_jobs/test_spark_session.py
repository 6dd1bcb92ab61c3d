"""get_spark: configuration layering, invariants, the Java check and its message."""

from __future__ import annotations

import os

import pytest

from spark_jobs.spark_session import (
    JAVA_FIX,
    LOCAL_CONF,
    SHORT_JOB_JAVA_OPTIONS,
    check_java,
    is_local_master,
    parse_conf,
    parse_java_major,
    resolve_conf,
    short_job_for,
    start_spark,
)


def test_parse_conf_splits_on_first_equals_and_skips_blanks() -> None:
    assert parse_conf("a=1, b = x=y ,,") == {"a": "1", "b": "x=y"}
    assert parse_conf("") == {}


@pytest.mark.parametrize("bad", ["novalue", "=1", "a=1,oops"])
def test_parse_conf_rejects_entries_without_key_value(bad: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_conf(bad)


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('java version "1.8.0_392"', 8),
        ('openjdk version "21" 2023-09-19', 21),
        ("no version here", None),
    ],
)
def test_parse_java_major(text: str, major: int | None) -> None:
    assert parse_java_major(text) == major


def test_conf_layers_env_then_argument(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKEWLESS_SPARK_CONF", "spark.sql.shuffle.partitions=3,x.y=env")
    monkeypatch.setenv("SKEWLESS_SPARK_DRIVER_MEMORY", "1g")
    conf = resolve_conf({"x.y": "arg"})
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["x.y"] == "arg"
    assert conf["spark.driver.memory"] == "1g"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert conf["spark.ui.enabled"] == "false"


def test_short_job_adds_its_java_options_to_the_default_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKEWLESS_SPARK_CONF", raising=False)
    key = "spark.driver.extraJavaOptions"
    plain, short = resolve_conf()[key], resolve_conf(short_job=True)[key]
    assert short == f"{plain} {SHORT_JOB_JAVA_OPTIONS}" and "-Duser.timezone=UTC" in short
    monkeypatch.setenv("SKEWLESS_SPARK_CONF", f"{key}=-Duser.timezone=UTC -Xss4m")
    assert resolve_conf(short_job=True)[key] == "-Duser.timezone=UTC -Xss4m"  # env wins
    assert resolve_conf({key: "-Dx=1"}, short_job=True)[key] == "-Dx=1"  # conf wins


@pytest.mark.parametrize(("master", "local"), [
    ("local", True), ("local[2]", True), ("local[*]", True), ("local[4,2]", True),
    ("local-cluster[2,1,1024]", False), ("spark://127.0.0.1:7077", False), ("yarn", False)])
def test_local_masters(master: str, local: bool) -> None:
    assert is_local_master(master) is local


def test_local_defaults_only_on_a_local_master_and_overridable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKEWLESS_SPARK_CONF", raising=False)
    monkeypatch.delenv("SKEWLESS_SPARK_MASTER", raising=False)
    key = "spark.sql.sources.parallelPartitionDiscovery.threshold"
    assert key in LOCAL_CONF
    assert resolve_conf()[key] == LOCAL_CONF[key]  # default master local[2]
    assert key not in resolve_conf(master="spark://127.0.0.1:7077")
    assert key not in resolve_conf({"spark.master": "spark://127.0.0.1:7077"})
    monkeypatch.setenv("SKEWLESS_SPARK_MASTER", "spark://127.0.0.1:7077")
    assert key not in resolve_conf()
    assert resolve_conf(master="local[2]")[key] == LOCAL_CONF[key]  # the argument wins
    monkeypatch.setenv("SKEWLESS_SPARK_CONF", f"{key}=32")
    assert resolve_conf(master="local[2]")[key] == "32"  # env wins over the default
    assert resolve_conf({key: "7"}, master="local[2]")[key] == "7"  # conf wins over env


def test_short_job_for_small_local_inputs_only(tmp_path) -> None:
    folder = tmp_path / "labels" / "date=2024-01-01"
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"x" * 600)
    single = tmp_path / "one.parquet"
    single.write_bytes(b"x" * 500)
    assert short_job_for(tmp_path / "labels", limit=1000)
    assert short_job_for(str(single), limit=1000)
    assert not short_job_for(tmp_path / "labels", single, limit=1000)  # 1,100 bytes in all
    assert not short_job_for(tmp_path / "labels", limit=599)
    assert not short_job_for("catalog_table")  # not a local path: size unknown
    assert not short_job_for()


def test_start_spark_raises_what_get_spark_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKEWLESS_SPARK_CONF", raising=False)
    starting = start_spark("x", conf={"spark.sql.session.timeZone": "Europe/Paris"})
    with pytest.raises(ValueError, match="requires spark.sql.session.timeZone=UTC"):
        starting.result(timeout=60)


def test_time_zone_is_an_invariant(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SKEWLESS_SPARK_CONF", raising=False)
    with pytest.raises(ValueError, match="requires spark.sql.session.timeZone=UTC"):
        resolve_conf({"spark.sql.session.timeZone": "Europe/Paris"})


def test_missing_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-such-jdk"))
    with pytest.raises(RuntimeError) as info:
        check_java()
    assert JAVA_FIX in str(info.value)
    assert "apt-get install openjdk-17-jre-headless" in str(info.value)


def test_old_java_names_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    fake = tmp_path / "jdk" / "bin" / "java"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    with pytest.raises(RuntimeError, match="is Java 8: install OpenJDK 17"):
        check_java()


def test_session_is_utc_micros_and_uses_this_python(spark) -> None:
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.parquet.outputTimestampType") == "TIMESTAMP_MICROS"
    assert os.environ["PYSPARK_PYTHON"]
    assert os.environ.get("SPARK_LOCAL_IP")
    worker_python = (
        spark.sparkContext.parallelize([0], 1).map(lambda _: __import__("sys").executable).first()
    )
    assert os.path.realpath(worker_python) == os.path.realpath(os.environ["PYSPARK_PYTHON"])


def test_start_spark_imports_pyspark_before_its_thread_starts() -> None:
    """The caller's ``import feast`` (Feast's Spark store imports pyspark) must not race the
    thread's import of ``pyspark.sql``: when ``start_spark`` returns, PySpark is imported in
    full, before the thread did anything (here the thread's ``get_spark`` never returns)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys, threading
        import spark_jobs.spark_session as s
        assert "pyspark" not in sys.modules
        hold = threading.Event()
        s.get_spark = lambda *a, **k: hold.wait()  # the thread imports nothing
        s.start_spark("x")
        assert hasattr(sys.modules["pyspark"], "SQLContext"), "pyspark is half imported"
        assert hasattr(sys.modules["pyspark.sql"], "SparkSession")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
