"""User ids as 124-bit keys, computed from Arrow without a Python string per play.

The chart engine keeps its state per user in arrays indexed by a dense code, so every
batch maps each play's user id to that code. Done with Python strings, that cost about
0.35 s per 525k-play batch at 1M listeners (Arrow to pandas objects, then a hash index of
objects), the largest part of the engine's step. Here the ids never leave Arrow: each is
padded with zero bytes to a common width, read as 64-bit words straight from the Arrow
buffer, and hashed twice (two seeds) by a multiply-xorshift over the id's own words, then
its byte length, with numpy over the whole column.

The two 64-bit hashes, with their sign and top exponent bits cleared, are the real and
imaginary parts of one ``complex128``: both parts are then finite, never NaN and never
-0.0, so two keys are equal exactly when their 124 bits are, and pandas indexes them
natively. Two of 1M users share a key with odds of about 1 in 10^25, less than two random
UUIDs colliding; user ids are made by the server, not chosen by users.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_U64 = np.uint64
_SEEDS = (_U64(0x243F6A8885A308D3), _U64(0x13198A2E03707344))  # digits of pi
_MULTIPLY = _U64(0x9E3779B97F4A7C15)
_FINAL_1, _FINAL_2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)  # splitmix64
_FINITE = _U64(0x3FFFFFFFFFFFFFFF)  # no sign bit, exponent below all-ones
KEY_DTYPE = np.complex128


def user_keys(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The key of each id (strings, no nulls), as ``complex128``."""
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks() if ids.num_chunks else pa.array([], ids.type)
    if ids.null_count:
        raise ValueError("user ids must not be null")
    if len(ids) == 0:
        return np.zeros(0, KEY_DTYPE)
    words, length = _padded_words(pc.cast(ids, pa.binary()))
    parts = [_hash(words, length, seed) & _FINITE for seed in _SEEDS]
    keys = np.empty(len(ids), KEY_DTYPE)
    keys.real, keys.imag = parts[0].view(np.float64), parts[1].view(np.float64)
    return keys


def keys_to_columns(keys: np.ndarray) -> dict[str, np.ndarray]:
    """Keys as two int64 columns (for Arrow and files); ``keys_from_columns`` reverses it."""
    return {"user_key_a": keys.real.view(np.int64), "user_key_b": keys.imag.view(np.int64)}


def keys_from_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    keys = np.empty(len(a), KEY_DTYPE)
    keys.real = np.ascontiguousarray(a, np.int64).view(np.float64)
    keys.imag = np.ascontiguousarray(b, np.int64).view(np.float64)
    return keys


def _padded_words(ids: pa.BinaryArray) -> tuple[np.ndarray, np.ndarray]:
    """(one row of 64-bit words per id, zero-padded to a common width; byte lengths)."""
    length = pc.binary_length(ids).to_numpy(zero_copy_only=False).astype(np.int64)
    width = max(8, -(-int(length.max()) // 8) * 8)
    pad = pc.binary_repeat(pa.scalar(b"\0", pa.binary()), pa.array(width - length, pa.int64()))
    padded = pc.binary_join_element_wise(ids, pad, pa.scalar(b"", pa.binary()))
    # Every value is ``width`` bytes now, back to back in the data buffer from the first.
    offsets = np.frombuffer(padded.buffers()[1], np.int32)[padded.offset :]
    data = np.frombuffer(padded.buffers()[2], np.uint8)[offsets[0] : offsets[0] + len(ids) * width]
    return data.view(_U64).reshape(len(ids), width // 8), length


def _hash(words: np.ndarray, length: np.ndarray, seed: np.uint64) -> np.ndarray:
    """Each id's own words only (not the padding the widest id of the batch needs), so a
    key does not depend on the batch it came in."""
    state = np.full(len(words), seed, _U64)
    own_words = (length + 7) // 8
    with np.errstate(over="ignore"):
        for column in range(words.shape[1]):
            mixed = _absorb(state, words[:, column])
            state = np.where(own_words > column, mixed, state)
        # The length last, so "a" + zero byte and "b" (one word each) differ.
        return _absorb(state, length.astype(_U64))


def _absorb(state: np.ndarray, word: np.ndarray) -> np.ndarray:
    return _finalise((state ^ word) * _MULTIPLY)  # a bijection of the state for each word


def _finalise(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(30))
    h = h * _FINAL_1
    h = h ^ (h >> _U64(27))
    h = h * _FINAL_2
    return h ^ (h >> _U64(31))  # type: ignore[no-any-return]
