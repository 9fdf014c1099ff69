"""The only format that crosses the trust boundary: length-prefixed frames.

A frame is a JSON header plus raw byte blobs.  Tensors travel as
``{"t": "tensor", "dtype": ..., "shape": [...], "blob": i}`` with their bytes
in blob ``i``; nothing is ever pickled.  The parent decodes what the child
sends with :func:`read_frame` under a size cap, so a hostile child can at
worst send data that fails validation.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket
import struct
import time

import torch

#: Largest frame the trusted side accepts from a child (header + blobs).
MAX_FRAME_BYTES = 64 * 1024 * 1024
#: Largest JSON header accepted.
MAX_HEADER_BYTES = 1024 * 1024

_sha256 = hashlib.sha256
_PREFIX = struct.Struct("<II")  # header length, number of blobs
PREFIX = _PREFIX  # the monitor writes its notice with it (grader.sandbox.integrity)
_BLOB_LEN = struct.Struct("<Q")

DTYPES: dict[str, torch.dtype] = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "int8": torch.int8,
    "uint8": torch.uint8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}


class ProtocolError(Exception):
    """The other side sent something that is not a valid frame."""


class FrameReader:
    """One frame at a time, from bytes as they arrive: the caller waits (select) and keeps its own deadline.

    :meth:`wanted` says how many bytes to read next (never past the frame); every size is checked as soon
    as it arrives, so a huge declared size is refused before anything is kept.
    """

    def __init__(self, max_bytes: int = MAX_FRAME_BYTES):
        self.max_bytes = max_bytes
        self._start()

    def _start(self) -> None:
        self._sha = _sha256()  # of the frame's bytes as they arrive: what a seal covers (grader.sandbox.protocol.seals)
        self._buf, self._need, self._stage = bytearray(), _PREFIX.size, "prefix"
        self._header: dict | None = None
        self._blobs: list[bytes] = []
        self._count = self._budget = 0

    def wanted(self) -> int:
        """Bytes to read next (at least 1 while a frame is incomplete)."""
        return max(1, self._need - len(self._buf))

    @property
    def started(self) -> bool:
        """Whether part of a frame has arrived."""
        return bool(self._buf) or self._stage != "prefix"

    def read_from(self, sock: socket.socket) -> tuple[dict, list[bytes]] | None:
        """What a non-blocking ``sock`` holds now, up to the end of the frame: the frame once complete, else None.
        ``EOFError`` once the peer closed."""
        try:
            data = sock.recv(min(self.wanted(), 1 << 20))
        except (BlockingIOError, InterruptedError):
            return None
        except ConnectionError:
            data = b""
        if not data:
            raise EOFError("peer closed the connection")
        return self.feed(data)

    def feed(self, data: bytes) -> tuple[dict, list[bytes]] | None:
        """Add ``data`` (at most :meth:`wanted` bytes); the frame once it is complete, else None."""
        self._buf += data
        while len(self._buf) >= self._need:
            part, self._buf = bytes(self._buf[:self._need]), self._buf[self._need:]
            self._sha.update(part)
            if self._stage == "prefix":
                header_len, self._count = _PREFIX.unpack(part)
                if header_len > MAX_HEADER_BYTES or self._count > 10_000:
                    raise ProtocolError("frame header too large")
                self._budget = self.max_bytes - header_len
                self._stage, self._need = "header", header_len
            elif self._stage == "header":
                try:
                    header = json.loads(part)
                except (ValueError, RecursionError) as exc:
                    raise ProtocolError(f"frame header is not JSON: {exc}") from None
                if not isinstance(header, dict):
                    raise ProtocolError("frame header is not an object")
                self._header, self._stage, self._need = header, "size", _BLOB_LEN.size
            elif self._stage == "size":
                (size,) = _BLOB_LEN.unpack(part)
                self._budget -= size
                if self._budget < 0:
                    raise ProtocolError(f"frame larger than {self.max_bytes} bytes")
                self._stage, self._need = "blob", size
            else:
                self._blobs.append(part)
                self._stage, self._need = "size", _BLOB_LEN.size
            if self._header is not None and len(self._blobs) == self._count:
                frame = (self._header, self._blobs)
                self.digest = self._sha.digest()  # SHA-256 of the last complete frame's bytes
                self._start()
                return frame
        return None


def encode_frame(header: dict, blobs: list[bytes] = ()) -> bytes:
    """A whole frame as bytes."""
    data = json.dumps(header, allow_nan=True, separators=(",", ":")).encode()
    parts = [_PREFIX.pack(len(data), len(blobs)), data]
    for blob in blobs:
        parts.append(_BLOB_LEN.pack(len(blob)))
        parts.append(blob)
    return b"".join(parts)


def raw_frame(header: bytes) -> bytes:
    """A frame of a header already encoded as JSON bytes, without blobs (a seal)."""
    return _PREFIX.pack(len(header), 0) + header


def write_frame(sock: socket.socket, header: dict, blobs: list[bytes] = ()) -> None:
    sock.sendall(encode_frame(header, blobs))


def read_frame(sock: socket.socket, *, max_bytes: int = MAX_FRAME_BYTES, deadline: float | None = None) -> tuple[dict, list[bytes]]:
    """The next frame (blocking); with ``deadline`` (``time.monotonic()``), ``socket.timeout`` once it passes.

    One deadline for the whole frame: a peer sending byte by byte cannot extend it."""
    reader = FrameReader(max_bytes)
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the frame did not arrive in time")
            sock.settimeout(left)
        chunk = sock.recv(min(reader.wanted(), 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        frame = reader.feed(chunk)
        if frame is not None:
            return frame


_TB = torch._C.TensorBase
_UINT8 = torch.uint8


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Raw bytes of a plain tensor, C order (through TensorBase's C methods: nothing a submission patches into
    ``torch.Tensor`` runs here)."""
    flat = _TB.reshape(_TB.contiguous(_TB.cpu(_TB.detach(t))), (-1,))
    if _TB.numel(flat) == 0:
        return b""
    return _TB.numpy(_TB.view(flat, _UINT8)).tobytes()


def tensor_from_bytes(dtype_name: str, shape: list, blob: bytes) -> torch.Tensor:
    """Rebuild a tensor from untrusted bytes, validating dtype, shape and size."""
    dtype = DTYPES.get(dtype_name) if isinstance(dtype_name, str) else None
    if dtype is None:
        raise ProtocolError(f"unknown dtype {str(dtype_name)[:40]!r}")
    if not isinstance(shape, list) or len(shape) > 16 or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d for d in shape
    ):
        raise ProtocolError("invalid tensor shape")
    numel = math.prod(shape)
    itemsize = torch.empty((), dtype=dtype).element_size()
    if numel * itemsize != len(blob):
        raise ProtocolError("tensor bytes do not match its shape and dtype")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(blob), dtype=torch.uint8).view(dtype).reshape(shape).clone()
