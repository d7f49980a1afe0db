"""Arrow arrays built straight from buffers.

``pa.array``/``pa.scalar`` make pyarrow import pandas (~0.3-0.5 s) to check
for pandas objects; building from numpy buffers does not, which keeps the
runner's per-cell overhead down.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa


def _numeric(data: np.ndarray, arrow_type: pa.DataType) -> pa.Array:
    data = np.ascontiguousarray(data)
    return pa.Array.from_buffers(arrow_type, len(data), [None, pa.py_buffer(data)])


def repeat_numeric(
    values: Sequence[float], counts: Sequence[int], dtype: str, arrow_type: pa.DataType
) -> pa.Array:
    """values[i] repeated counts[i] times."""
    return _numeric(np.repeat(np.asarray(values, dtype=dtype), counts), arrow_type)


def concat_numeric(parts: Sequence[Sequence[float]], total: int) -> pa.Array:
    data = np.fromiter(itertools.chain.from_iterable(parts), dtype=np.float64, count=total)
    return _numeric(data, pa.float64())


def repeat_boolean(values: Sequence[bool], counts: Sequence[int]) -> pa.Array:
    flags = np.repeat(np.asarray(values, dtype=bool), counts)
    bits = np.packbits(flags, bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(flags), [None, pa.py_buffer(bits)])


def repeat_strings(values: Sequence[str], counts: Sequence[int]) -> pa.Array:
    encoded = [v.encode() for v in values]
    lengths = np.repeat(np.asarray([len(e) for e in encoded], dtype=np.int64), counts)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("string column too large for 32-bit offsets")
    data = b"".join(e * k for e, k in zip(encoded, counts, strict=True))
    return pa.Array.from_buffers(
        pa.string(),
        len(lengths),
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)],
    )


def constant_string(value: str, n: int) -> pa.Array:
    return repeat_strings([value], [n])
