"""The iteration order of Java's ``HashMap<String, ?>``.

Zeebe's S3 store builds a manifest's file maps with ``Collectors.toMap`` (a
``HashMap``) and Jackson writes them in that map's iteration order: by bucket
(the spread ``String.hashCode`` masked by the table size), then in insertion
order within a bucket. The table starts at 16 buckets and doubles when the map
holds more than three quarters of its size, or when a bucket reaches nine
entries while the table is below 64 buckets (``treeifyBin``). A bucket of nine
or more colliding names in a table of 64 or more becomes a tree whose order
this model does not follow (it keeps insertion order there): names that collide
so often do not occur in a partition's files, and Zeebe reads any order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

_INITIAL_BUCKETS = 16
_TREEIFY_BUCKET = 9
_MIN_TREE_TABLE = 64
_MASK = 0xFFFFFFFF


def _string_hash(text: str) -> int:
    """Java's ``String.hashCode`` over UTF-16 code units, as an unsigned 32-bit value."""
    units = text.encode("utf-16-be", "surrogatepass")
    value = 0
    for i in range(0, len(units), 2):
        value = (31 * value + int.from_bytes(units[i : i + 2], "big")) & _MASK
    return value


def _spread(value: int) -> int:
    """``HashMap.hash``: the high half folded into the low half."""
    return value ^ (value >> 16)


def hash_map_order(keys: Sequence[str]) -> list[int]:
    """Indexes of ``keys`` (distinct) in the order a ``HashMap`` they were put into, one
    after another, iterates them."""
    hashes = [_spread(_string_hash(k)) for k in keys]
    buckets = _INITIAL_BUCKETS
    filled: Counter[int] = Counter()
    for size, value in enumerate(hashes, start=1):
        bucket = value & (buckets - 1)
        filled[bucket] += 1
        before = buckets
        if filled[bucket] >= _TREEIFY_BUCKET and buckets < _MIN_TREE_TABLE:
            buckets *= 2
        if size > buckets * 3 // 4:
            buckets *= 2
        if buckets != before:
            filled = Counter(h & (buckets - 1) for h in hashes[:size])
    mask = buckets - 1
    return sorted(range(len(keys)), key=lambda i: hashes[i] & mask)
