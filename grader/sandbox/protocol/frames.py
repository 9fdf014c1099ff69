"""The only format that crosses the trust boundary: length-prefixed frames.

A frame is a JSON header plus raw byte blobs.  Tensors travel as
``{"t": "tensor", "dtype": ..., "shape": [...], "blob": i}`` with their bytes
in blob ``i``; nothing is ever pickled.  The parent decodes what the child
sends with :func:`read_frame` under a size cap, so a hostile child can at
worst send data that fails validation.
"""

from __future__ import annotations

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


def _recv_exact(sock: socket.socket, n: int, deadline: float | None = None, raw: bytearray | None = None) -> bytes:
    chunks = bytearray()
    while len(chunks) < n:
        if deadline is not None:  # one deadline for the whole frame: a peer sending byte by byte cannot extend it
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout("the frame did not arrive in time")
            sock.settimeout(left)
        chunk = sock.recv(min(n - len(chunks), 1 << 20))
        if not chunk:
            raise EOFError("peer closed the connection")
        chunks += chunk
    if raw is not None:
        raw += chunks
    return bytes(chunks)


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


def read_frame(sock: socket.socket, *, max_bytes: int = MAX_FRAME_BYTES, deadline: float | None = None,
               raw: bytearray | None = None) -> tuple[dict, list[bytes]]:
    """The next frame; with ``deadline`` (``time.monotonic()``), ``socket.timeout`` once it passes; with ``raw``,
    the frame's bytes as received are appended to it (to check a seal)."""
    header_len, n_blobs = _PREFIX.unpack(_recv_exact(sock, _PREFIX.size, deadline, raw))
    if header_len > MAX_HEADER_BYTES or n_blobs > 10_000:
        raise ProtocolError("frame header too large")
    budget = max_bytes - header_len
    try:
        header = json.loads(_recv_exact(sock, header_len, deadline, raw))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"frame header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    blobs = []
    for _ in range(n_blobs):
        (size,) = _BLOB_LEN.unpack(_recv_exact(sock, _BLOB_LEN.size, deadline, raw))
        budget -= size
        if budget < 0:
            raise ProtocolError(f"frame larger than {max_bytes} bytes")
        blobs.append(_recv_exact(sock, size, deadline, raw))
    return header, blobs


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
