"""A local Spark standalone cluster on loopback: one master and one worker, started from the
Spark that the ``pyspark`` package installs (``scripts/cluster.py spark start|stop``).

pip's pyspark has no ``start-master.sh``; :func:`start_spark_cluster` runs
``$SPARK_HOME/bin/spark-class org.apache.spark.deploy.master.Master`` and
``... org.apache.spark.deploy.worker.Worker spark://host:port`` itself (``SPARK_HOME`` = the
pyspark package folder), both bound to ``127.0.0.1``, and waits until the master's status page
(``/json/``) lists the worker as ``ALIVE``. The JVMs get ``SPARK_LOCAL_IP`` = the host and
``PYSPARK_PYTHON`` = this interpreter, so executors start their Python workers with the
project's environment (the driver's ``PYSPARK_PYTHON``, set by
:func:`spark_jobs.spark_session.get_spark`, is what PySpark actually ships with each task; the
worker's is the fallback). Jobs then run on it by configuration alone:
``SKEWLESS_SPARK_MASTER=spark://127.0.0.1:<port>`` (:meth:`SparkClusterHandle.env`).

Edge cases: Java 17+ missing raises ``RuntimeError`` naming the fix (the check of
:mod:`spark_jobs.spark_session`); a host that is not loopback raises ``ValueError`` (this
launcher is for one machine: a real cluster is started by its operator); a busy master port
raises ``ValueError`` naming it; a JVM that exits, or a worker not registered within
``timeout_s``, raises ``RuntimeError`` quoting the log, after stopping what was started.
:func:`stop_spark_cluster` stops the worker (and with it its executors: they are in its
process group) and then the master, and removes the working folder it created.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from clusters.processes import bindable, free_port, log_tail, stop_pids

LOOPBACK = ("127.0.0.1", "localhost")
JVM_MARKER = "org.apache.spark.deploy"


@dataclass(frozen=True)
class SparkClusterHandle:
    """A running local standalone cluster: master URL, the master's status page, the pids of
    the master and worker JVMs this module started, and the working folder (logs, the
    worker's work dir)."""

    master_url: str
    ui_url: str
    master_pid: int
    worker_pid: int
    workdir: str
    owns_workdir: bool = True

    def env(self) -> dict[str, str]:
        """The environment that runs skewless' Spark jobs on this cluster."""
        return {"SKEWLESS_SPARK_MASTER": self.master_url}

    def status(self) -> dict[str, Any]:
        """The master's status (``/json/``): ``aliveworkers``, ``activeapps``,
        ``completedapps``, ... Raises ``RuntimeError`` when the master does not answer."""
        return master_status(self.ui_url)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> SparkClusterHandle:
        return SparkClusterHandle(**json.loads(text))


def spark_home() -> Path:
    """The Spark distribution inside the installed ``pyspark`` package."""
    import pyspark

    home = Path(pyspark.__file__).resolve().parent
    if not (home / "bin" / "spark-class").exists():
        raise RuntimeError(f"{home}/bin/spark-class is missing: reinstall pyspark "
                           "(.venv/bin/pip install --force-reinstall pyspark)")
    return home


def master_status(ui_url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    """The JSON status of a standalone master's web UI (``<ui_url>/json/``)."""
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=timeout_s) as resp:
            return json.loads(resp.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RuntimeError(f"the Spark master's status page {ui_url}/json/ does not answer "
                           f"({exc})") from exc


def _jvm_env(host: str, workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": host,
        "SPARK_LOG_DIR": str(workdir / "logs"),
        "SPARK_WORKER_DIR": str(workdir / "work"),
        "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
    })
    return env


def _spark_class(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([str(spark_home() / "bin" / "spark-class"), *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def start_spark_cluster(
    host: str = "127.0.0.1",
    port: int | None = None,
    cores: int = 2,
    memory: str = "2g",
    workdir: str | os.PathLike[str] | None = None,
    timeout_s: float = 120.0,
) -> SparkClusterHandle:
    """Start a master (``port``; ``None`` picks a free one) and one worker offering ``cores``
    and ``memory`` to executors; return when the worker is registered. The JVMs outlive the
    caller until :func:`stop_spark_cluster`."""
    from spark_jobs.spark_session import check_java

    if host not in LOOPBACK:
        raise ValueError(f"host={host!r}: the local cluster binds loopback only; use "
                         "127.0.0.1 (start a real cluster's daemons on its machines)")
    if cores < 1:
        raise ValueError(f"cores={cores}: a worker needs at least 1 core")
    if port is not None and not bindable(host, port):
        raise ValueError(f"port {port} is in use on {host}; pick another, or stop the master "
                         "using it (scripts/cluster.py spark stop)")
    check_java()
    port = port or free_port(host)
    ui_port, worker_ui = free_port(host), free_port(host)
    owns = workdir is None
    root = Path(workdir or tempfile.mkdtemp(prefix="skewless-spark-cluster-")).resolve()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    (root / "work").mkdir(exist_ok=True)
    env = _jvm_env(host, root)
    master_url = f"spark://{host}:{port}"
    master = _spark_class(["org.apache.spark.deploy.master.Master", "--host", host,
                           "--port", str(port), "--webui-port", str(ui_port)],
                          env, root / "master.log")
    worker = _spark_class(["org.apache.spark.deploy.worker.Worker", "--host", host,
                           "--webui-port", str(worker_ui), "--cores", str(cores),
                           "--memory", memory, "--work-dir", str(root / "work"), master_url],
                          env, root / "worker.log")
    handle = SparkClusterHandle(master_url, f"http://{host}:{ui_port}", master.pid, worker.pid,
                                str(root), owns)
    try:
        _wait_for_worker(handle, master, worker, time.monotonic() + timeout_s)
    except BaseException:
        stop_spark_cluster(handle)
        raise
    return handle


def _wait_for_worker(handle: SparkClusterHandle, master: subprocess.Popen,
                     worker: subprocess.Popen, deadline: float) -> None:
    root = Path(handle.workdir)
    while True:
        for name, proc in (("master", master), ("worker", worker)):
            if proc.poll() is not None:
                raise RuntimeError(f"the Spark {name} exited with {proc.returncode}:\n"
                                   f"{log_tail(root / f'{name}.log')}")
        try:
            if master_status(handle.ui_url, timeout_s=2).get("aliveworkers", 0) >= 1:
                return
        except RuntimeError:
            pass  # the master's web UI is not up yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"no Spark worker registered with {handle.master_url} in time; "
                               f"worker log:\n{log_tail(root / 'worker.log')}")
        time.sleep(0.25)


def stop_spark_cluster(handle: SparkClusterHandle, timeout_s: float = 20.0) -> None:
    """Stop the worker (with its executors), then the master; remove the working folder when
    this module created it. Idempotent: JVMs already gone are skipped."""
    stop_pids((handle.worker_pid,), JVM_MARKER, timeout_s)
    stop_pids((handle.master_pid,), JVM_MARKER, timeout_s)
    if handle.owns_workdir:
        shutil.rmtree(handle.workdir, ignore_errors=True)
