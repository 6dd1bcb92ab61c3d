"""Redis connection options from the environment (password, TLS, timeouts), standard library only.

:func:`secure_connection_string` merges them into a Feast ``connection_string``
(``host:port[,host:port...],key=value,...``) — :func:`feast_bridge.store.open_store` applies
it, so every Feast client (``get_online_features``, materialization, the direct reader that
reuses Feast's client) connects with them; :func:`client_kwargs` turns such a string into
redis-py keyword arguments for a client of our own (``/health``, benchmarks, tests).

| variable | Feast / redis-py parameter | default |
|---|---|---|
| ``SKEWLESS_REDIS_HOST`` / ``_PORT`` / ``_DB`` | ``host:port``, ``db`` | the YAML's |
| ``SKEWLESS_REDIS_USERNAME`` | ``username`` (Redis ACL user) | the YAML's, else none |
| ``SKEWLESS_REDIS_PASSWORD`` or ``_PASSWORD_FILE`` | ``password`` | the YAML's, else none |
| ``SKEWLESS_REDIS_SSL`` | ``ssl`` (``true``/``false``) | the YAML's, else false |
| ``SKEWLESS_REDIS_SSL_CA_CERTS`` | ``ssl_ca_certs`` (CA bundle file) | system CAs |
| ``SKEWLESS_REDIS_SSL_CERTFILE`` / ``_KEYFILE`` | ``ssl_certfile`` / ``ssl_keyfile`` | none |
| ``SKEWLESS_REDIS_SSL_CERT_REQS`` | ``ssl_cert_reqs`` (required/optional/none) | required |
| ``SKEWLESS_REDIS_SSL_CHECK_HOSTNAME`` | ``ssl_check_hostname`` | redis-py's |
| ``SKEWLESS_REDIS_SOCKET_TIMEOUT`` | ``socket_timeout`` (seconds per command) | ``2`` |
| ``SKEWLESS_REDIS_CONNECT_TIMEOUT`` | ``socket_connect_timeout`` (seconds) | ``2`` |
| ``SKEWLESS_REDIS_RETRY`` | ``retry`` (``off``/``on``) | ``off`` |

Decisions and edge cases:

* Secrets never appear in a message, a ``repr`` or a log: errors name the *variable*, and
  :func:`redact` hides ``password=`` in any connection string that is shown. A password is best
  given as a file (``SKEWLESS_REDIS_PASSWORD_FILE``, one trailing newline stripped), which is how
  container secrets arrive; setting both variables raises.
* Feast splits the connection string on ``,`` and JSON-decodes each value: a value containing a
  comma cannot be carried and raises naming the variable; passwords and user names are written
  JSON-quoted so that ``true``, ``123`` or ``null`` stay the strings they are.
* The environment wins over the YAML key by key; the YAML's other parameters are kept.
* ``SKEWLESS_REDIS_RETRY=off`` (default) writes ``retry=null`` for a single server: redis-py's
  default policy (3 retries, exponential back-off up to 10 s, ~6 s measured against a closed
  port) would hold a request for seconds while Redis is down; without it a request fails at
  once (the server answers 503) and a pooled connection broken by a Redis restart is replaced
  when next checked out, so service resumes by itself. A Redis Cluster keeps redis-py's cluster
  retry policy (it re-discovers slots through it).
* TLS file options without ``SKEWLESS_REDIS_SSL=true`` raise (they would be silently ignored);
  a named file that does not exist raises naming the variable.
* The address is checked here, once, for every reader (``open_store``, the server's settings,
  ``clusters.services``): a port that is not an integer from 1 to 65535, a database that is
  not an integer >= 0, or a host holding ``,``, ``=``, ``:`` or whitespace (which would break
  the connection string) raises naming the variable and the fix. Empty means unset.
* Plain ``feast`` commands read none of these variables, only ``feature_store.yaml``, which
  Feast 0.67 passes through ``os.path.expandvars``: ``password=${SKEWLESS_REDIS_PASSWORD}`` in
  ``online_store.connection_string`` gives them the password from the environment. A
  ``${NAME}`` left unexpanded (the variable is not set) raises naming ``NAME``; a Redis that
  refuses the credentials gets a message naming what the failing client reads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RedisAddress", "RedisClientOptions", "address", "client_kwargs", "redact",
           "secure_connection_string", "split_connection_string"]

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
_CERT_REQS = ("required", "optional", "none")
DEFAULT_TIMEOUT_S = 2.0


def _bool_env(env: Mapping[str, str], name: str) -> bool | None:
    text = env.get(name, "").strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}={env[name]!r} is not a boolean; set {name}=true or {name}=false")


def _seconds_env(env: Mapping[str, str], name: str) -> float | None:
    text = env.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 3600:
        raise ValueError(f"{name}={text!r} is not a number of seconds in (0, 3600); set e.g. "
                         f"{name}=2")
    return value


def _file_env(env: Mapping[str, str], name: str) -> str | None:
    path = env.get(name, "").strip()
    if not path:
        return None
    if not os.path.isfile(path):
        raise ValueError(f"{name}={path!r} is not a file; point it at the PEM file")
    return path


def _no_comma(name: str, value: str | None) -> None:
    if value is not None and "," in value:
        raise ValueError(f"{name} contains a comma, which Feast's connection_string cannot carry "
                         "(it splits on commas); use a value without commas")


def port_number(text: str, name: str) -> int:
    """``text`` as a TCP port (an integer from 1 to 65535, digits only); anything else raises
    ``ValueError`` naming ``name`` and the fix."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={text!r} is not a TCP port (an integer from 1 to 65535); "
                         f"set e.g. {name}=6379")
    return int(value)


@dataclass(frozen=True)
class RedisAddress:
    """``SKEWLESS_REDIS_HOST`` / ``_PORT`` / ``_DB`` checked (see module docstring); ``None``
    means "not set" (the YAML's value, else the reader's default, applies)."""

    host: str | None = None
    port: int | None = None
    db: int | None = None

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> RedisAddress:
        env = os.environ if env is None else env
        host = env.get("SKEWLESS_REDIS_HOST", "").strip() or None
        if host is not None and (not host.isprintable() or any(c in host for c in ",=: \t")):
            raise ValueError(f"SKEWLESS_REDIS_HOST={host!r} is not a host name or IPv4 address; "
                             "set e.g. SKEWLESS_REDIS_HOST=127.0.0.1 (the port goes in "
                             "SKEWLESS_REDIS_PORT)")
        port_text = env.get("SKEWLESS_REDIS_PORT", "").strip()
        port = port_number(port_text, "SKEWLESS_REDIS_PORT") if port_text else None
        db_text = env.get("SKEWLESS_REDIS_DB", "").strip()
        if db_text and not (db_text.isascii() and db_text.isdigit()):
            raise ValueError(f"SKEWLESS_REDIS_DB={db_text!r} is not a database number (an "
                             "integer >= 0); set e.g. SKEWLESS_REDIS_DB=0")
        return RedisAddress(host, port, int(db_text) if db_text else None)

    def or_else(self, other: RedisAddress) -> RedisAddress:
        """This address, with ``other``'s value for each field this one leaves unset."""
        return RedisAddress(self.host if self.host is not None else other.host,
                            self.port if self.port is not None else other.port,
                            self.db if self.db is not None else other.db)


@dataclass(frozen=True)
class RedisClientOptions:
    """Connection options beyond host/port/db; ``None`` means "not set here" (the YAML's
    value, else the default, applies). The password is left out of ``repr``."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl: bool | None = None
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: str | None = None
    ssl_check_hostname: bool | None = None
    socket_timeout: float | None = None
    socket_connect_timeout: float | None = None
    retry: bool | None = None

    @staticmethod
    def from_env(env: Mapping[str, str] | None = None) -> RedisClientOptions:
        """Read the ``SKEWLESS_REDIS_*`` variables of the module docstring; raise
        ``ValueError`` naming the variable (never its secret value) and the fix."""
        env = os.environ if env is None else env
        password = env.get("SKEWLESS_REDIS_PASSWORD") or None
        password_file = env.get("SKEWLESS_REDIS_PASSWORD_FILE", "").strip()
        if password_file:
            if password is not None:
                raise ValueError("set either SKEWLESS_REDIS_PASSWORD or "
                                 "SKEWLESS_REDIS_PASSWORD_FILE, not both")
            try:
                with open(password_file, encoding="utf-8") as fh:
                    password = fh.read().removesuffix("\n").removesuffix("\r") or None
            except OSError as exc:
                raise ValueError(f"SKEWLESS_REDIS_PASSWORD_FILE={password_file!r} cannot be "
                                 f"read ({exc.strerror}); point it at the secret's file") from None
        username = env.get("SKEWLESS_REDIS_USERNAME", "").strip() or None
        _no_comma("SKEWLESS_REDIS_PASSWORD", password)
        _no_comma("SKEWLESS_REDIS_USERNAME", username)
        reqs = env.get("SKEWLESS_REDIS_SSL_CERT_REQS", "").strip().lower() or None
        if reqs is not None and reqs not in _CERT_REQS:
            raise ValueError(f"SKEWLESS_REDIS_SSL_CERT_REQS={reqs!r} must be one of "
                             f"{', '.join(_CERT_REQS)}")
        retry_text = env.get("SKEWLESS_REDIS_RETRY", "").strip().lower()
        if retry_text and retry_text not in ("on", "off"):
            raise ValueError(f"SKEWLESS_REDIS_RETRY={retry_text!r} must be 'off' (fail fast, "
                             "the default) or 'on' (redis-py's retries with back-off)")
        opts = RedisClientOptions(
            username=username,
            password=password,
            ssl=_bool_env(env, "SKEWLESS_REDIS_SSL"),
            ssl_ca_certs=_file_env(env, "SKEWLESS_REDIS_SSL_CA_CERTS"),
            ssl_certfile=_file_env(env, "SKEWLESS_REDIS_SSL_CERTFILE"),
            ssl_keyfile=_file_env(env, "SKEWLESS_REDIS_SSL_KEYFILE"),
            ssl_cert_reqs=reqs,
            ssl_check_hostname=_bool_env(env, "SKEWLESS_REDIS_SSL_CHECK_HOSTNAME"),
            socket_timeout=_seconds_env(env, "SKEWLESS_REDIS_SOCKET_TIMEOUT"),
            socket_connect_timeout=_seconds_env(env, "SKEWLESS_REDIS_CONNECT_TIMEOUT"),
            retry=None if not retry_text else retry_text == "on",
        )
        tls_files = [name for name, value in (
            ("SKEWLESS_REDIS_SSL_CA_CERTS", opts.ssl_ca_certs),
            ("SKEWLESS_REDIS_SSL_CERTFILE", opts.ssl_certfile),
            ("SKEWLESS_REDIS_SSL_KEYFILE", opts.ssl_keyfile),
            ("SKEWLESS_REDIS_SSL_CERT_REQS", opts.ssl_cert_reqs)) if value]
        if tls_files and not opts.ssl:
            raise ValueError(f"{', '.join(tls_files)} set but SKEWLESS_REDIS_SSL is not true; "
                             "set SKEWLESS_REDIS_SSL=true to connect with TLS")
        for name, value in (("SKEWLESS_REDIS_SSL_CA_CERTS", opts.ssl_ca_certs),
                            ("SKEWLESS_REDIS_SSL_CERTFILE", opts.ssl_certfile),
                            ("SKEWLESS_REDIS_SSL_KEYFILE", opts.ssl_keyfile)):
            _no_comma(name, value)
        if (opts.ssl_certfile is None) != (opts.ssl_keyfile is None):
            raise ValueError("a client certificate needs both SKEWLESS_REDIS_SSL_CERTFILE and "
                             "SKEWLESS_REDIS_SSL_KEYFILE")
        return opts

    def params(self) -> dict[str, str]:
        """The options that are set, as Feast connection-string values (JSON text)."""
        out: dict[str, str] = {}
        for name in ("username", "password", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile",
                     "ssl_cert_reqs"):
            value = getattr(self, name)
            if value is not None:
                out[name] = json.dumps(value)
        for name in ("ssl", "ssl_check_hostname"):
            value = getattr(self, name)
            if value is not None:
                out[name] = "true" if value else "false"
        for name in ("socket_timeout", "socket_connect_timeout"):
            value = getattr(self, name)
            if value is not None:
                out[name] = repr(float(value))
        return out


def split_connection_string(conn: str) -> tuple[list[str], dict[str, str]]:
    """Feast's reading of a connection string: ``host:port`` items and ``key=value`` items
    (value text as written; Feast JSON-decodes it, falling back to the text)."""
    nodes, params = [], {}
    for item in conn.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            params[key] = value
        elif item:
            nodes.append(item)
    return nodes, params


_UNEXPANDED = re.compile(r"\$\{(\w+)\}")


def unexpanded(text: str) -> list[str]:
    """Names of the ``${NAME}`` references left in ``text``: Feast runs ``feature_store.yaml``
    through ``os.path.expandvars``, which leaves a reference to an unset variable as is."""
    return _UNEXPANDED.findall(text)


def secure_connection_string(conn: str, options: RedisClientOptions | None = None,
                             cluster: bool = False) -> str:
    """``conn`` with ``options`` (default: :meth:`RedisClientOptions.from_env`) merged in:
    set options replace the YAML's parameter of the same name, and the timeouts default to
    ``DEFAULT_TIMEOUT_S``; a single server (``cluster=False``) without ``SKEWLESS_REDIS_RETRY=on``
    gets ``retry=null``. A ``${NAME}`` of the YAML that the options do not replace (the
    variable is unset) raises naming ``NAME``. See the module docstring."""
    options = RedisClientOptions.from_env() if options is None else options
    nodes, params = split_connection_string(conn)
    set_here = options.params()
    left = [name for text in (*nodes, *(v for k, v in params.items() if k not in set_here))
            for name in unexpanded(text)]
    if left:
        raise ValueError(f"online_store.connection_string in feature_store.yaml refers to "
                         f"${{{left[0]}}}, which is not set in this environment; export "
                         f"{left[0]} (Feast expands environment variables in that file)")
    params.update(set_here)
    for name in ("socket_timeout", "socket_connect_timeout"):
        params.setdefault(name, repr(DEFAULT_TIMEOUT_S))
    if cluster or options.retry:
        params.pop("retry", None)
    else:
        params["retry"] = "null"
    return ",".join([*nodes, *(f"{k}={v}" for k, v in params.items())])


def _decode(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def client_kwargs(conn: str) -> dict[str, Any]:
    """redis-py ``Redis(**kwargs)`` for the first node of a Feast connection string, read as
    Feast reads it (so a client of ours connects exactly as Feast's does)."""
    nodes, params = split_connection_string(conn)
    if not nodes:
        raise ValueError(f"connection string {redact(conn)!r} names no host:port")
    host, _, port = nodes[0].rpartition(":")
    return {"host": host, "port": int(port), **{k: _decode(v) for k, v in params.items()}}


def redact(conn: str) -> str:
    """``conn`` with the password replaced by ``***`` (for messages and logs)."""
    return re.sub(r"(^|,)(password=)[^,]*", r"\1\2***", conn)


def address(conn: str) -> str:
    """The ``host:port`` items of a connection string (no parameters, so no secrets)."""
    return ",".join(split_connection_string(conn)[0])


REDIS_FIX = (
    "start one with scripts/setup.sh, or point skewless' commands at a running server with "
    "SKEWLESS_REDIS_HOST / SKEWLESS_REDIS_PORT (and SKEWLESS_REDIS_DB); plain `feast` commands "
    "read only online_store.connection_string in feature_store.yaml"
)
PASSWORD_FIX = (
    "skewless' commands and server read SKEWLESS_REDIS_PASSWORD (or "
    "SKEWLESS_REDIS_PASSWORD_FILE) and SKEWLESS_REDIS_USERNAME; plain `feast` commands read "
    "only online_store.connection_string in feature_store.yaml: write "
    "'host:port,password=${SKEWLESS_REDIS_PASSWORD}' there (Feast expands environment "
    "variables in that file), or run `skewless materialize` instead of `feast materialize`"
)


def connection_failure(conn: str, exc: BaseException,
                       env: Mapping[str, str] | None = None) -> str:
    """Why a client built from connection string ``conn`` got ``exc`` from ``PING``, and the
    fix, naming what that client reads: refused credentials name the password variables and
    how plain ``feast`` gets one (an unexpanded ``${NAME}``, or ``SKEWLESS_REDIS_PASSWORD`` set
    while the string carries no password — plain ``feast`` — is said so); anything else is
    :data:`REDIS_FIX`. Secrets never appear (the string is redacted)."""
    import redis

    env = os.environ if env is None else env
    where = redact(conn)
    auth = (redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError,
            redis.exceptions.AuthenticationWrongNumberOfArgsError)
    if not isinstance(exc, auth):
        return f"Redis at {where} is not answering ({exc}): {REDIS_FIX}"
    password = split_connection_string(conn)[1].get("password")
    names = unexpanded(password or "")
    if names:
        why = (f"the password in the connection string is the literal text ${{{names[0]}}}: "
               f"{names[0]} is not set in this process, export it; ")
    elif password is None and (env.get("SKEWLESS_REDIS_PASSWORD")
                               or env.get("SKEWLESS_REDIS_PASSWORD_FILE")):
        why = ("SKEWLESS_REDIS_PASSWORD is set but this client's connection string has no "
               "password (plain `feast` does not read SKEWLESS_* variables); ")
    else:
        why = ""
    return (f"Redis at {where} refused the connection ({type(exc).__name__}: the password is "
            f"missing or wrong): {why}{PASSWORD_FIX}")


def is_cluster(online_config: Any) -> bool:
    """Whether a Feast Redis online-store config is a Redis Cluster."""
    kind = getattr(online_config, "redis_type", None)
    return getattr(kind, "value", kind) == "redis_cluster"


def checked_client(online_config: Any, *, single_node: bool = False,
                   online_store: Any = None) -> Any:
    """A Redis client for a Feast Redis online-store config, answered ``PING``.

    Default: Feast's own client (``RedisOnlineStore._get_client``: plain, cluster or sentinel;
    ``online_store``'s cached one when given). ``single_node``: a plain ``redis.Redis`` on the
    first node of the connection string, read as Feast reads it (for commands that address one
    server's database: ``SCAN``, ``DBSIZE``); a Redis Cluster still gets Feast's cluster client.
    Raises ``ValueError`` when the store is not Redis, ``RuntimeError`` naming the fix when
    Redis does not answer or refuses the credentials (:func:`connection_failure`; the
    password is redacted from the message).
    """
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore

    if getattr(online_config, "type", None) != "redis":
        raise ValueError(f"online store type is {getattr(online_config, 'type', None)!r}; "
                         "skewless reads and writes Redis: set online_store.type: redis")
    store = online_store if isinstance(online_store, RedisOnlineStore) else RedisOnlineStore()
    try:
        if single_node and not is_cluster(online_config):
            kwargs = client_kwargs(online_config.connection_string)
            kwargs.setdefault("socket_connect_timeout", 5)
            client = redis.Redis(**kwargs)
        else:
            client = store._get_client(online_config)
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        store._client = None  # do not keep a client that never connected
        raise RuntimeError(connection_failure(online_config.connection_string, exc)) from exc
    return client
