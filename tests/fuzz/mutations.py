"""Byte mutations shared by the fuzz tests: positions anchored at markers, and edit operations."""

from __future__ import annotations


def resolve(data: bytes, pos) -> int | None:
    """Offset in ``data`` (``0..len``) of a position, or None when its anchor is not in ``data``."""
    if isinstance(pos, int):
        return pos % (len(data) + 1)
    marker, n, offset = pos
    at = -1
    for _ in range(n + 1):
        at = data.find(marker, at + 1)
        if at < 0:
            return None
    return min(at + offset, len(data))


def mutate(data: bytes, ops) -> bytes:
    """Apply the mutations ``ops`` in order (see ``mutation``)."""
    buf = bytearray(data)
    for kind, pos, *arg in ops:
        at = resolve(bytes(buf), pos)
        if at is None:
            continue
        if kind == "flip" and at < len(buf):
            buf[at] ^= 1 << arg[0]
        elif kind == "truncate":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = arg[0]
        elif kind == "delete":
            del buf[at:at + arg[0]]
        elif kind == "overwrite":
            buf[at:at + len(arg[0])] = arg[0]
    return bytes(buf)


def mutation_strategy(anchors: tuple[bytes, ...], special: tuple[bytes, ...], *, max_nth: int, max_offset: int):
    """Hypothesis strategy of one edit ``(kind, position, *arg)`` for :func:`mutate`: positions are plain
    offsets or ``(anchor, n, offset)`` near format markers; overwrites favour ``special`` values."""
    from hypothesis import strategies as st

    position = st.one_of(st.integers(0, 1 << 16),
                         st.tuples(st.sampled_from(anchors), st.integers(0, max_nth), st.integers(0, max_offset)))
    return st.one_of(
        st.tuples(st.just("flip"), position, st.integers(0, 7)),
        st.tuples(st.just("truncate"), position),
        st.tuples(st.just("insert"), position, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), position, st.integers(1, 64)),
        st.tuples(st.just("overwrite"), position, st.one_of(st.sampled_from(special), st.binary(min_size=1, max_size=8))),
    )
