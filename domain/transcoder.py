"""The desk's event transcoder: eventsourcing's JSON format, written with less overhead.

``JSONTranscoder.encode`` builds a new C encoder for every event and tracks containers against
reference cycles (event state holds none), and every custom value (a datetime, the event's
metadata) goes through a registry lookup. This subclass writes the very same bytes — same
separators, same ``{"_type_", "_data_"}`` wrappers from the same registry — with one C encoder
built once and a direct path for aware datetimes.

Reading is the library's, but for one thing: an SLA binding carries its policy's milestone
specs (~2 kB of JSON, the same for every ticket bound to that policy version), and decoding
them was a third of decoding the whole notification log. The specs text of a binding is
decoded once and shared by every event that carries those very bytes (see :meth:`decode`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder

# A binding's specs as this encoder writes them: ``...,"specs":[...],"clocks":...``.
_SPECS_AT: Final = b',"specs":['
_SPECS_END: Final = b'],"clocks":'
_STAND_IN: Final = '"\\u0000specs"'  # what the specs are swapped for while the rest is decoded
_SHARED_MAX: Final = 256  # distinct specs texts kept (policy versions in use: a handful)


class FastJSONTranscoder(JSONTranscoder):
    """Byte for byte what :class:`JSONTranscoder` writes; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._to_text = self._make_encoder()
        self._shared: dict[bytes, list[Any]] = {}

    def _make_encoder(self) -> Callable[[Any], str]:
        if c_make_encoder is None:  # no C accelerator: the library's own path
            return self.encoder.encode
        make: Any = c_make_encoder
        # What JSONEncoder.iterencode passes for separators=(",", ":"), ensure_ascii=False,
        # sort_keys=False, skipkeys=False, allow_nan=True, with markers=None: no cycle check.
        chunks = make(None, self._default, encode_basestring, None, ":", ",", False, False, True)

        def encode(obj: Any) -> str:
            return "".join(chunks(obj, 0))

        return encode

    def _default(self, obj: Any) -> dict[str, Any]:
        if type(obj) is datetime and self.names.get("datetime_iso") is self.types.get(datetime):
            return {"_type_": "datetime_iso", "_data_": obj.isoformat()}
        if isinstance(obj, UUID) and type(obj) is not UUID:
            obj = UUID(int=obj.int)  # e.g. a recorder's UUID subclass: stored as a plain one
        return self._encode_obj(obj)

    def encode(self, obj: Any) -> bytes:
        return self._to_text(obj).encode("utf8")

    def decode(self, data: bytes) -> Any:
        """The library's decoding; a binding's specs list is decoded once per distinct text.

        The specs text is cut out where this encoder puts it (between ``,"specs":`` and
        ``,"clocks":``) and decoded alone: only a complete JSON list is kept, and a cut that
        was not the top-level ``specs`` (the stand-in did not land there) is thrown away for
        the library's whole decoding. Events carrying the same bytes then share one list:
        like the lists :func:`domain.sla.policy.bound_specs` makes, never mutate it.
        """
        start = data.find(_SPECS_AT)
        end = data.find(_SPECS_END, start) if start >= 0 else -1
        if end < 0:
            return super().decode(data)
        start += len(_SPECS_AT) - 1  # the list's "["
        end += 1  # past its "]"
        raw = data[start:end]
        specs = self._shared.get(raw)
        if specs is None:
            try:
                specs = self.decoder.decode(raw.decode("utf8"))
            except ValueError:
                specs = None
            if type(specs) is not list:
                return super().decode(data)
            if len(self._shared) >= _SHARED_MAX:
                self._shared.clear()
            self._shared[raw] = specs
        text = data[:start].decode("utf8") + _STAND_IN + data[end:].decode("utf8")
        state = self.decoder.decode(text)
        if type(state) is not dict or state.get("specs") != "\x00specs":
            return super().decode(data)
        state["specs"] = specs
        return state
