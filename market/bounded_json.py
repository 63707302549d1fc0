"""JSON from untrusted bytes, bounded before it is parsed: Python's ``json`` parser recurses once
per nesting level, and web3's dependencies raise the recursion limit to 100000 process-wide, so a
document nested 400k deep overflows the C stack (SIGSEGV) instead of raising. Every reader of
network bytes (update package headers and metadata, task specs, audit transcripts) counts the
nesting first with :func:`json_nesting_depth` and refuses a document deeper than its format
needs."""

from __future__ import annotations

import re

import numpy as np

__all__ = ["json_nesting_depth"]

_JSON_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
"""A JSON string, or an unclosed one up to the end (where the parser would stop). Possessive, so
the scan is linear: no backtracking, and an unclosed string is not scanned again from each quote."""
_OPENERS, _CLOSERS = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


def json_nesting_depth(document: bytes | str) -> int:
    """The deepest nesting of arrays and objects in a JSON document, counted without parsing
    it (strings skipped, no recursion), so that a hostile document is refused before the
    recursive parser sees it. For text that is not JSON the count covers at least every bracket
    the parser reaches before it stops at the first error."""
    raw = document.encode("utf-8", "surrogatepass") if isinstance(document, str) else bytes(document)
    skeleton = np.frombuffer(_JSON_STRING.sub(b"", raw), np.uint8)
    steps = np.isin(skeleton, _OPENERS).astype(np.int64) - np.isin(skeleton, _CLOSERS)
    return int(np.cumsum(steps).max(initial=0))
