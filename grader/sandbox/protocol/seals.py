"""Seals, student process to trusted side: the monitor's MAC over every frame after the first.

The student process's monitor (:mod:`grader.sandbox.integrity`) sends a key in the ``sandboxed`` frame, before
any student code runs; from then on each frame is followed by a seal frame ``{"seal": n, "verdict", "forbidden",
"evidence", "mac"}`` whose MAC covers the sequence number, the verdict, any forbidden API used, the evidence and
the SHA-256 of the frame's bytes as received (:class:`grader.sandbox.protocol.frames.FrameReader` computes it). :func:`check` is the trusted side's half.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

#: What a student sees when the monitor found tampering (the evidence goes to the instructor only).
TAMPERING_MESSAGE = ("the grader found its own code, state or channel altered in your submission's process: "
                     "this check and the ones after it are not graded")


class SealError(Exception):
    """A frame without a valid seal: something other than the harness wrote to the grader's channel."""


class Replayed(Exception):
    """A validly sealed frame out of sequence: another copy of the harness (in a process the submission forked)
    answered too."""


@dataclass(frozen=True)
class Seal:
    verdict: str
    """``ok``, ``tampering`` or ``forbidden`` (a forbidden API used in a process the submission forked)."""
    forbidden: str
    """The forbidden API used since the previous seal ('' when none)."""
    evidence: str
    """What the monitor found, for the instructor only."""


def message(n: int, verdict: str, forbidden: str, evidence: str, digest: bytes) -> bytes:
    """The bytes a seal's MAC covers (the monitor builds the same, with no code a submission can rebind)."""
    return b"%d\n%s\n%s\n%s\n%s" % (n, verdict.encode(), forbidden.encode(), evidence.encode(), digest)


def check(key: bytes, expected: int, digest: bytes, seal: dict) -> Seal:
    """The seal of a frame (``digest``: the SHA-256 of its bytes as received), checked against ``key``;
    ``expected``: its sequence number."""
    n, verdict, forbidden, evidence, mac = (seal.get(k) for k in ("seal", "verdict", "forbidden", "evidence", "mac"))
    if not (type(n) is int and verdict in ("ok", "tampering", "forbidden") and isinstance(forbidden, str)
            and isinstance(evidence, str) and isinstance(mac, str)):
        raise SealError("a frame came without the monitor's seal")
    want = hmac.digest(key, message(n, verdict, forbidden, evidence, digest), "sha256").hex()
    if not hmac.compare_digest(want, mac):
        raise SealError("a frame's seal does not match it: it was not written by the grader's harness")
    if n != expected:
        raise Replayed(f"sealed frame {n} arrived where {expected} was due")
    return Seal(verdict, forbidden[:200], evidence[:2000])
