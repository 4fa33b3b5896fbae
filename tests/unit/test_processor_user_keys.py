"""User keys: equal ids give equal keys, different ids different ones, from any Arrow layout."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bluetrack.processor.engine import ChartEngine, _pack, _unpack
from bluetrack.processor.user_keys import keys_from_columns, keys_to_columns, user_keys

TRICKY = [
    "", "\0", "a", "a\0", "a\0\0", "b", "ab", "ba", "user-0001", "user-0002", "user-00010",
    "x" * 7, "x" * 8, "x" * 9, "x" * 64, "x" * 65, "é", "e\u0301", "日本語", "0" * 32,
    "0" * 31 + "1",
]  # fmt: skip


def test_distinct_ids_get_distinct_keys_and_equal_ids_equal_keys() -> None:
    ids = TRICKY + [f"{n:032x}" for n in range(20_000)]
    keys = user_keys(pa.array(ids + ids[::-1]))
    first, again = keys[: len(ids)], keys[len(ids) :][::-1]
    assert len(set(first.tolist())) == len(set(ids))
    assert (first == again).all()


def test_ids_alike_in_every_byte_but_one_or_in_length_get_distinct_keys() -> None:
    # Every string of up to 9 characters over "a", "b" and the zero byte (which is also the
    # padding): 29,524 ids that differ from each other as little as ids can.
    ids = [""]
    for _ in range(9):
        ids += [i + c for i in ids[-(3 ** (len(ids[-1]))) :] for c in "ab\0"]
    assert len(ids) == len(set(ids)) == sum(3**n for n in range(10))
    assert len(set(user_keys(pa.array(ids)).tolist())) == len(ids)


def test_keys_are_finite_and_never_negative_so_equal_means_the_same_bits() -> None:
    keys = user_keys(pa.array(TRICKY))
    for part in (keys.real, keys.imag):
        assert np.isfinite(part).all() and (np.signbit(part) == 0).all()


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(max_size=80), min_size=1, max_size=50), cut=st.integers(0, 50))
def test_a_key_depends_only_on_its_id_not_on_the_arrays_layout(ids: list[str], cut: int) -> None:
    whole = user_keys(pa.array(ids))
    chunked = pa.chunked_array([pa.array(ids[:cut], pa.string()), pa.array(ids[cut:], pa.string())])
    sliced = pa.array(["padding", *ids, "more"]).slice(1, len(ids))
    one_by_one = np.concatenate([user_keys(pa.array([i])) for i in ids])
    assert (user_keys(chunked) == whole).all()
    assert (user_keys(sliced) == whole).all()
    assert (one_by_one == whole).all()
    assert len(set(whole.tolist())) == len(set(ids))


def test_keys_survive_two_int64_columns() -> None:
    keys = user_keys(pa.array(TRICKY))
    columns = keys_to_columns(keys)
    assert (keys_from_columns(columns["user_key_a"], columns["user_key_b"]) == keys).all()


def test_null_ids_are_refused_and_none_at_all_give_no_keys() -> None:
    with pytest.raises(ValueError, match="null"):
        user_keys(pa.array(["a", None]))
    assert len(user_keys(pa.chunked_array([], pa.string()))) == 0


def _batch(users: list[str], at_ms: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": np.array(users, object),
            "operation_type": np.array(["start"] * len(users), object),
            "event_time_ms": np.full(len(users), at_ms, np.int64),
            "duration_ms": np.full(len(users), 200_000, np.int64),
            "genre": np.array([f"g{i % 3}" for i in range(len(users))], object),
        }
    )


def test_a_state_saved_with_user_ids_instead_of_keys_restores_the_same_users() -> None:
    users = [f"user-{i:04d}" for i in range(50)]
    engine = ChartEngine()
    engine.step(_batch(users, 1_767_225_600_000), 0)
    header, tables = _unpack(engine.to_bytes())
    # The layout before keys: the ids themselves, in code order (first seen first).
    tables[0] = (
        tables[0]
        .drop_columns(["user_key_a", "user_key_b"])
        .append_column("user_id", pa.array(users))
    )
    restored = ChartEngine.from_bytes(_pack(header, tables))
    later = _batch(users[::-1], 1_767_225_660_000)
    assert restored.step(later, 1) == engine.step(later, 1)
    assert restored.to_bytes() == engine.to_bytes()


def test_arrow_and_pandas_batches_step_alike() -> None:
    users = [f"user-{i:04d}" for i in range(30)]
    by_pandas, by_arrow = ChartEngine(), ChartEngine()
    for n, at in enumerate((1_767_225_600_000, 1_767_225_630_000)):
        batch = _batch(users, at)
        assert by_arrow.step(pa.Table.from_pandas(batch), n) == by_pandas.step(batch, n)
    assert by_arrow.to_bytes() == by_pandas.to_bytes()
