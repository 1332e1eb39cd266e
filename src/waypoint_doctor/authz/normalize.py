"""The request path a waypoint's RBAC filter compares, after Envoy normalises it.

istiod builds every HTTP connection manager, the waypoint's included, with the mesh's
``pathNormalization`` (pilot/pkg/networking/core/listener_builder.go, ``buildHTTPConnectionManager``;
``listener_waypoint.go`` builds the waypoint's HCM through it):

- ``NONE``: ``normalize_path: false``; the path is compared as sent;
- ``BASE`` (and ``DEFAULT``, the default): ``normalize_path: true``, RFC 3986 dot segments and
  backslashes, as Envoy's ``PathUtil::canonicalPath`` does it with Chromium's URL canonicaliser;
- ``MERGE_SLASHES``: ``BASE`` plus ``merge_slashes: true``;
- ``DECODE_AND_MERGE_SLASHES``: ``MERGE_SLASHES`` plus ``path_with_escaped_slashes_action:
  UNESCAPE_AND_FORWARD`` (``%2F``/``%2f`` become ``/``, ``%5C``/``%5c`` become ``\\``).

Since 1.31 a ProxyConfig ``connectionSettings`` (``httpMergeSlashes``,
``httpPathWithEscapedSlashesAction``) overrides the last two (connection_settings.go,
``applyConnectionSettingsToHCM``).

Envoy applies the steps in this order (source/common/http/conn_manager_utility.cc,
``maybeNormalizePath``): escaped slashes first, then the RFC 3986 canonicalisation, then merging
slashes; each step only touches the part before ``?``. The RBAC path matcher then drops the query
and the fragment.

One step depends on the Envoy build: the Chromium canonicaliser Envoy vendored decoded
percent-encoded unreserved characters (``%61`` to ``a``, Istio's normalization reference documents
it), while Chromium's tables after crbug 1509295 (Dec 2023) copy every valid escape as is. A path
that holds such an escape gets both readings, and a rule whose answer differs between them is
undecidable rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

_HEX = "0123456789abcdefABCDEF"


class PathNormalization(StrEnum):
    NONE = "NONE"
    BASE = "BASE"
    MERGE_SLASHES = "MERGE_SLASHES"
    DECODE_AND_MERGE_SLASHES = "DECODE_AND_MERGE_SLASHES"


class EscapedSlashes(StrEnum):
    """Envoy's ``path_with_escaped_slashes_action`` for ``%2F``, ``%2f``, ``%5C``, ``%5c``."""

    KEEP_UNCHANGED = "KEEP_UNCHANGED"
    REJECT_REQUEST = "REJECT_REQUEST"
    UNESCAPE_AND_REDIRECT = "UNESCAPE_AND_REDIRECT"
    UNESCAPE_AND_FORWARD = "UNESCAPE_AND_FORWARD"


@dataclass(frozen=True)
class PathSettings:
    """How the waypoint's HTTP connection manager rewrites ``:path`` before any filter."""

    normalize: bool = True
    merge_slashes: bool = False
    escaped_slashes: EscapedSlashes = EscapedSlashes.KEEP_UNCHANGED
    source: str = "BASE (the default)"

    @classmethod
    def for_mode(cls, mode: PathNormalization | str | None) -> PathSettings:
        """The HCM options istiod derives from mesh ``pathNormalization.normalization``."""
        try:
            chosen = PathNormalization(mode) if mode not in (None, "", "DEFAULT") else None
        except ValueError:
            chosen = None  # an unknown enum name is refused by istiod's mesh config validation
        if chosen is PathNormalization.NONE:
            return cls(normalize=False, source="NONE")
        if chosen is PathNormalization.MERGE_SLASHES:
            return cls(merge_slashes=True, source="MERGE_SLASHES")
        if chosen is PathNormalization.DECODE_AND_MERGE_SLASHES:
            return cls(
                merge_slashes=True,
                escaped_slashes=EscapedSlashes.UNESCAPE_AND_FORWARD,
                source="DECODE_AND_MERGE_SLASHES",
            )
        return cls(source="BASE" if chosen is PathNormalization.BASE else "BASE (the default)")

    @classmethod
    def from_mesh(cls, mesh: Mapping[str, Any] | None) -> PathSettings:
        """From a parsed mesh config: ``pathNormalization`` then ``defaultConfig.connectionSettings``."""
        mesh = mesh if isinstance(mesh, Mapping) else {}
        raw = mesh.get("pathNormalization")
        mode = raw.get("normalization") if isinstance(raw, Mapping) else None
        settings = cls.for_mode(mode if isinstance(mode, str) else None)
        default_config = mesh.get("defaultConfig")
        connection = default_config.get("connectionSettings") if isinstance(default_config, Mapping) else None
        return settings.with_connection_settings(connection)

    def with_connection_settings(self, connection: Any) -> PathSettings:
        """ProxyConfig ``connectionSettings`` fields set explicitly take precedence (1.31+)."""
        if not isinstance(connection, Mapping):
            return self
        merge = connection.get("httpMergeSlashes")
        action = connection.get("httpPathWithEscapedSlashesAction")
        out = self
        notes = []
        if isinstance(merge, bool):
            out = PathSettings(out.normalize, merge, out.escaped_slashes, out.source)
            notes.append(f"httpMergeSlashes={str(merge).lower()}")
        if isinstance(action, str) and action in EscapedSlashes.__members__:
            out = PathSettings(out.normalize, out.merge_slashes, EscapedSlashes(action), out.source)
            notes.append(f"httpPathWithEscapedSlashesAction={action}")
        if notes:
            out = PathSettings(
                out.normalize,
                out.merge_slashes,
                out.escaped_slashes,
                f"{self.source}, connectionSettings {', '.join(notes)}",
            )
        return out


@dataclass(frozen=True)
class NormalizedPath:
    """What the RBAC filter compares: one path, or two when the Envoy build decides."""

    original: str
    candidates: tuple[str, ...]  # empty when Envoy answers before any filter runs
    rejected: str | None = None  # why Envoy rejects or redirects the request instead
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.candidates != (self.original,)

    @property
    def path(self) -> str | None:
        """The single path compared, or None when it is rejected or depends on the Envoy build."""
        return self.candidates[0] if len(self.candidates) == 1 else None


def normalize_path(path: str, settings: PathSettings | None = None) -> NormalizedPath:
    """Rewrite ``path`` the way the waypoint's HTTP connection manager does."""
    settings = settings or PathSettings()
    head, sep, query = path.partition("?")
    notes: list[str] = []
    if settings.escaped_slashes is not EscapedSlashes.KEEP_UNCHANGED:
        unescaped = _unescape_slashes(head)
        if unescaped != head:
            if settings.escaped_slashes is EscapedSlashes.REJECT_REQUEST:
                return NormalizedPath(
                    path, (), "the path holds an escaped slash (%2F or %5C): Envoy answers 400", ()
                )
            if settings.escaped_slashes is EscapedSlashes.UNESCAPE_AND_REDIRECT:
                return NormalizedPath(
                    path,
                    (),
                    "the path holds an escaped slash (%2F or %5C): Envoy answers with a redirect to the "
                    "unescaped path, which the client must follow",
                    (),
                )
            notes.append("escaped slashes decoded")
            head = unescaped
    heads = [head]
    if settings.normalize:
        vendored = _canonicalize(head, decode_unreserved=True)
        upstream = _canonicalize(head, decode_unreserved=False)
        if upstream is None:
            return NormalizedPath(
                path, (), "the path holds a NUL byte: Envoy rejects it with 400", tuple(notes)
            )
        if vendored is None:
            notes.append("%00 in the path: Envoy builds with the vendored canonicaliser reject it with 400")
        heads = list(dict.fromkeys(r for r in (vendored, upstream) if r is not None))
        if any(h != head for h in heads):
            notes.append("dot segments and backslashes resolved (RFC 3986)")
        if len(heads) > 1:
            notes.append("percent-encoded letters, digits or -._~ are decoded by some Envoy builds only")
    if settings.merge_slashes:
        merged = [_merge_slashes(h) for h in heads]
        if merged != heads:
            notes.append("repeated slashes merged")
        heads = list(dict.fromkeys(merged))
    return NormalizedPath(path, tuple(h + sep + query for h in heads), None, tuple(notes))


def _unescape_slashes(head: str) -> str:
    for escaped, plain in (("%2F", "/"), ("%2f", "/"), ("%5C", "\\"), ("%5c", "\\")):
        head = head.replace(escaped, plain)
    return head


def _merge_slashes(head: str) -> str:
    """Envoy's ``PathTransformer::mergeSlashes`` on the part before ``?``."""
    if "//" not in head:
        return head
    prefix = "/" if head.startswith("/") else ""
    suffix = "/" if head.endswith("/") else ""
    return prefix + "/".join(part for part in head.split("/") if part) + suffix


# Chromium's kPathCharLookup as Envoy vendored it: what to do with each byte of a path.
_PASS, _ESCAPE, _UNESCAPE, _INVALID = 0, 1, 2, 3


def _char_class(byte: int) -> int:
    if byte == 0:
        return _INVALID
    if byte < 0x20 or byte >= 0x7F:
        return _ESCAPE
    char = chr(byte)
    if char.isalnum() or char in "-_~":
        return _UNESCAPE
    if char in ' "#%<>?\\^`{|}':
        return _ESCAPE
    return _PASS  # ! $ & ' ( ) * + , . / : ; = @ [ ]


def _is_dot(data: bytes, i: int) -> int:
    """1 for ``.``, 3 for ``%2e``/``%2E``, 0 otherwise (Chromium's IsDot)."""
    if data[i : i + 1] == b".":
        return 1
    if data[i : i + 3].lower() == b"%2e":
        return 3
    return 0


def _is_slash(data: bytes, i: int) -> bool:
    return i < len(data) and data[i : i + 1] in (b"/", b"\\")


def _decode_escape(data: bytes | bytearray, i: int) -> int | None:
    """The byte ``%XX`` at ``i`` stands for, or None when it is not a valid escape."""
    if i + 3 > len(data):
        return None
    hi, lo = chr(data[i + 1]), chr(data[i + 2])
    if hi not in _HEX or lo not in _HEX:
        return None
    return int(hi + lo, 16)


def _back_up(out: bytearray) -> None:
    """Drop the last segment: the output ends with '/', stop at the first one."""
    i = len(out) - 1
    if i == 0:
        return
    i -= 1
    while out[i] != ord("/") and i > 0:
        i -= 1
    del out[i + 1 :]


def _canonicalize(head: str, *, decode_unreserved: bool) -> str | None:
    """Chromium's path canonicalisation (url_canon_path.cc, DoPath/DoPartialPath), None on %00."""
    data = head.encode("utf-8", errors="surrogatepass")
    out = bytearray()
    if not _is_slash(data, 0):
        out += b"/"
    last_invalid_percent = -10
    i = 0
    while i < len(data):
        byte = data[i]
        dot = _is_dot(data, i)
        if dot:
            if out and out[-1] == ord("/"):
                after = i + dot
                if after == len(data):
                    i = after  # a trailing "." is the current directory
                    continue
                if _is_slash(data, after):
                    i = after + 1
                    continue
                second = _is_dot(data, after)
                if second:
                    after_second = after + second
                    if after_second == len(data):
                        _back_up(out)
                        i = after_second
                        continue
                    if _is_slash(data, after_second):
                        _back_up(out)
                        i = after_second + 1
                        continue
            out += b"."
            i += dot
            continue
        if byte == ord("\\"):
            out += b"/"
        elif byte == ord("%"):
            value = _decode_escape(data, i)
            if value is None:
                last_invalid_percent = len(out)
                out += b"%"
            elif value == 0 and decode_unreserved:
                return None  # the vendored table marks NUL invalid; later tables copy "%00"
            elif decode_unreserved and _char_class(value) == _UNESCAPE:
                out.append(value)
                i += 2
                if last_invalid_percent >= len(out) - 3:
                    _fix_nested_escape(data, i + 1, out, last_invalid_percent)
            else:
                out += data[i : i + 3]
                i += 2
        else:
            kind = _char_class(byte)
            if kind == _INVALID:
                return None
            if kind == _ESCAPE:
                out += f"%{byte:02X}".encode()
            else:
                out.append(byte)
        i += 1
    return out.decode("ascii", errors="replace")


def _fix_nested_escape(data: bytes, next_index: int, out: bytearray, percent: int) -> None:
    """Chromium's CheckForNestedEscapes: ``%%30`` must not turn into a new escape ``%0``."""
    length = len(out)
    last = out[-1]
    append_next = percent == length - 2
    if append_next:
        if next_index >= len(data) or data[next_index] >= 0x80:
            return
        out.append(data[next_index])
    if _decode_escape(out, percent) is not None:
        if not append_next:
            out.append(out[percent + 1])
        out[percent + 1] = ord("2")
        out[percent + 2] = ord("5")
        out.append(last)
    elif append_next:
        del out[length:]
