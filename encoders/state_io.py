"""Encoder-set JSON: the published form of specs and fitted states (never pickle).

Document layout (``format_version`` 1)::

    {"format": "skewless.encoder_set", "format_version": 1,
     "content_hash": "sha256:…",
     "encoders": [{"kind": "zscore", "version": 1, "spec": {…}, "state": {…}}, …]}

The content hash is sha256 of the *canonical* JSON of ``format_version`` and ``encoders``
(keys sorted, no whitespace, UTF-8, no NaN/inf; floats in Python's shortest round-trip form),
so it is the same in every process (``PYTHONHASHSEED`` plays no part) and on every machine.
Loading checks the format, every kind and version, every field, and that the stored hash
matches the content; any problem raises :class:`~encoders.base.StateError` naming the fix.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from encoders.base import EncoderSpec, EncoderState, StateError, kind_classes
from encoders.encoder_set import EncoderSet, FittedEncoder

FORMAT = "skewless.encoder_set"
FORMAT_VERSION = 1
SPECS_FORMAT = "skewless.encoder_specs"


def _body(encoder_set: EncoderSet) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "encoders": [
            {"kind": e.spec.kind, "version": e.spec.version, "spec": e.spec.to_json(),
             "state": e.state.to_json()}
            for e in encoder_set.encoders
        ],
    }


def canonical_json(obj: Any) -> bytes:
    """Canonical UTF-8 JSON bytes: sorted keys, no spaces, NaN/inf rejected."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8", "surrogatepass")


def content_hash(encoder_set: EncoderSet) -> str:
    """``sha256:<hex>`` identifying the set's specs and states."""
    return "sha256:" + hashlib.sha256(canonical_json(_body(encoder_set))).hexdigest()


def to_document(encoder_set: EncoderSet) -> dict[str, Any]:
    doc = {"format": FORMAT, **_body(encoder_set)}
    doc["content_hash"] = encoder_set.content_hash
    return doc


def dumps(encoder_set: EncoderSet) -> str:
    """Readable JSON text of the set (indented; hash computed on the canonical form)."""
    return json.dumps(to_document(encoder_set), indent=2, sort_keys=True, ensure_ascii=False,
                      allow_nan=False)


def _tuplify(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def _build(cls: type, fields: Any, what: str) -> Any:
    if not isinstance(fields, dict):
        raise StateError(f"{what} must be a JSON object, got {type(fields).__name__}")
    try:
        return cls(**{k: _tuplify(v) for k, v in fields.items()})
    except TypeError as exc:
        raise StateError(f"{what} does not match {cls.__name__}: {exc}; the file was written "
                         "by another version of skewless or edited by hand, re-fit") from None


def _spec_class(i: int, item: Any) -> type[EncoderSpec]:
    if not isinstance(item, dict):
        raise StateError(f"encoders[{i}] must be a JSON object")
    kind, version = item.get("kind"), item.get("version")
    kinds = kind_classes()
    if kind not in kinds:
        raise StateError(
            f"encoders[{i}] has unknown kind {kind!r}; known kinds: {sorted(kinds)}. Upgrade "
            "skewless to a version that defines it, or re-fit with this version"
        )
    cls: type[EncoderSpec] = kinds[kind]
    if version != cls.version:
        raise StateError(
            f"encoders[{i}] kind {kind!r} has version {version!r} but this skewless reads "
            f"version {cls.version}; install the skewless version that wrote it, or re-fit"
        )
    return cls


def _load_encoder(i: int, item: Any) -> FittedEncoder:
    cls = _spec_class(i, item)
    spec = _build(cls, item.get("spec"), f"encoders[{i}].spec ({cls.kind})")
    state: EncoderState = _build(cls.state_type, item.get("state"),
                                 f"encoders[{i}].state ({cls.kind})")
    return FittedEncoder(spec, state)


def specs_dumps(specs: Sequence[EncoderSpec]) -> str:
    """Canonical JSON text of unfitted specs (what to compute, no state): the form a Feast
    registry tag carries, so a fit step can read a service's encoders from the registry.
    Equal specs give equal text in every process."""
    items = [{"kind": s.kind, "version": s.version, "spec": s.to_json()} for s in specs]
    return canonical_json({"format": SPECS_FORMAT, "encoders": items}).decode("utf-8")


def specs_loads(text: str) -> tuple[EncoderSpec, ...]:
    """Specs from :func:`specs_dumps` text; anything else raises :class:`StateError`."""
    try:
        doc = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise StateError(f"encoder specs are not valid JSON ({exc}); re-run `feast apply` "
                         "with the repo that declares them") from None
    if not isinstance(doc, dict) or doc.get("format") != SPECS_FORMAT or not isinstance(
            doc.get("encoders"), list):
        raise StateError(f"not an encoder-spec document (expected \"format\": "
                         f"\"{SPECS_FORMAT}\"); re-run `feast apply`")
    return tuple(_build(_spec_class(i, it), it.get("spec"), f"encoders[{i}].spec")
                 for i, it in enumerate(doc["encoders"]))


def from_document(doc: Any, expected_hash: str | None = None) -> EncoderSet:
    """Load a set from a parsed JSON document; check ``expected_hash`` when given."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise StateError(f"not an encoder-set document (expected \"format\": \"{FORMAT}\"); "
                         "pass the JSON written by skewless' save()")
    fv = doc.get("format_version")
    if fv != FORMAT_VERSION:
        raise StateError(f"encoder-set format_version {fv!r} is not {FORMAT_VERSION}; use the "
                         "skewless version that wrote it, or re-fit and save again")
    items = doc.get("encoders")
    if not isinstance(items, list):
        raise StateError("\"encoders\" must be a JSON list")
    enc_set = EncoderSet(tuple(_load_encoder(i, it) for i, it in enumerate(items)))
    stored = doc.get("content_hash")
    if stored is not None and stored != enc_set.content_hash:
        raise StateError(f"content_hash {stored} does not match the content "
                         f"({enc_set.content_hash}): the file is corrupted or was edited; "
                         "restore it from the registry or re-fit")
    if expected_hash is not None and expected_hash != enc_set.content_hash:
        raise StateError(f"encoder set {enc_set.content_hash} is not the expected "
                         f"{expected_hash}; load the state the model was trained with")
    return enc_set


def loads(text: str | bytes, expected_hash: str | None = None) -> EncoderSet:
    """Parse JSON text (see :func:`from_document`)."""
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise StateError(f"encoder-set JSON is not valid JSON ({exc}); restore the file from "
                         "the registry or re-fit") from None
    return from_document(doc, expected_hash)


def save(encoder_set: EncoderSet, path: str | os.PathLike[str]) -> Path:
    """Write the set atomically (temp file + rename): a reader never sees half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dumps(encoder_set))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def load(path: str | os.PathLike[str], expected_hash: str | None = None) -> EncoderSet:
    """Read a set saved by :func:`save`; a missing file raises ``StateError`` naming the fix."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise StateError(f"no encoder state at {p}; run the fit step (it publishes the state) "
                         "or point to the right file") from None
    return loads(data, expected_hash)
