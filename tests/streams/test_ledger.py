"""The store ledger: chunked, replay-safe application of step batches."""

from __future__ import annotations

import random

import orjson
import pytest

from shoppulse.kpis.contributions import POINT
from shoppulse.streams.ledger import Base, Chunk, Ledger, fold_line

DAY = 1440


def batch(seed: int) -> dict[tuple[str, str, int, int], int]:
    rng = random.Random(seed)
    steps: dict[tuple[str, str, int, int], int] = {}
    for _ in range(20):
        key = ("aov", rng.choice(["num", "den"]), rng.choice([POINT, 60, 1440]), rng.randrange(3 * DAY))
        steps[key] = steps.get(key, 0) + rng.randrange(-3, 9)
    return steps


def totals(ledger: Ledger, store: str, cutoff: int) -> list[int]:
    series = ledger.stores[store]
    return [series.component("aov", part, width, cutoff) for part in ("num", "den") for width in (60, 1440)]


def test_replayed_batches_are_skipped_chunk_by_chunk() -> None:
    once, twice = Ledger(), Ledger()
    for offset in range(30):
        once.apply("s", batch(offset), (0, offset))
    for offset in range(30):
        twice.apply("s", batch(offset), (0, offset))
        if offset % 3 == 0:  # a crash makes the upstream stage send some batches again
            assert twice.apply("s", batch(offset), (0, offset)) == set()
    assert totals(once, "s", 3 * DAY) == totals(twice, "s", 3 * DAY)


def test_partially_written_batch_is_completed_not_doubled() -> None:
    """A crash after some chunk writes: the replay writes only the chunks that missed it."""
    ledger, expected = Ledger(), Ledger()
    writes = {key: ledger.value(key) for key in ledger.apply("s", batch(1), (2, 7))}
    expected.apply("s", batch(1), (2, 7))
    survivor = Ledger()
    kept = dict(list(writes.items())[: len(writes) // 2])  # only half the chunk values were flushed
    survivor.load(kept.items())
    rewritten = survivor.apply("s", batch(1), (2, 7))
    assert set(rewritten) == set(writes) - set(kept)
    assert totals(survivor, "s", 3 * DAY) == totals(expected, "s", 3 * DAY)


def test_rebuilt_from_table_equals_live() -> None:
    live, table = Ledger(), {}
    for offset in range(20):
        table.update({key: live.value(key) for key in live.apply("s", batch(offset), (offset % 2, offset))})
    rebuilt = Ledger()
    rebuilt.load(table.items())
    assert totals(rebuilt, "s", 3 * DAY) == totals(live, "s", 3 * DAY)


def test_dropped_store_is_forgotten() -> None:
    ledger = Ledger()
    ledger.apply("a", batch(1), (0, 0))
    ledger.apply("b", batch(2), (0, 1))
    ledger.drop_store("a")
    assert set(ledger.stores) == {"b"}
    assert all(key.startswith("b|") for key in ledger.chunks)


@pytest.mark.parametrize("shape", ["pairs", "steps"])
def test_chunks_written_in_earlier_formats_still_load(shape: str) -> None:
    """Tables written before the steps were kept by series: a (step, amount) pair each
    ("pairs"), or before that one flat array each ("steps")."""
    live = Ledger()
    keys = live.apply("s", batch(3), (0, 3))
    held = {key: list(live.chunks[key].steps()) for key in keys}
    earlier = {
        key: orjson.dumps(
            {
                "applied": {"0": 3},
                shape: [
                    [list(step), amount] if shape == "pairs" else [*step, amount] for step, amount in steps
                ],
            }
        )
        for key, steps in held.items()
    }
    rebuilt = Ledger()
    rebuilt.load(earlier.items())
    assert {key: sorted(rebuilt.chunks[key].steps()) for key in keys} == {
        key: sorted(steps) for key, steps in held.items()
    }
    assert totals(rebuilt, "s", 3 * DAY) == totals(live, "s", 3 * DAY)


def test_a_chunk_in_the_earlier_format_takes_new_steps_after_an_upgrade() -> None:
    """A quarter-hour chunk written as pairs (the format before series) is read back from
    the table by the new code and then gets more steps: the figures are those of a ledger
    that never changed format."""
    steps_before = {("nps", "num", 60, 29_000_012): 2, ("nps", "den", 0, 29_000_024): 1}
    steps_after = {("nps", "num", 60, 29_000_012): -1, ("nps", "num", 60, 29_000_017): 3}
    earlier = Ledger()
    (key,) = earlier.apply("s", steps_before, (0, 0))
    pairs = [[list(step), amount] for step, amount in earlier.chunks[key].steps()]
    table = {key: orjson.dumps({"applied": {"0": 0}, "pairs": pairs})}
    upgraded = Ledger()
    assert upgraded.apply("s", steps_after, (0, 1), table.get) == {key}
    assert upgraded.apply("s", steps_after, (0, 1), table.get) == set()  # a replay: skipped
    assert dict(upgraded.chunks[key].steps()) == {
        ("nps", "num", 60, 29_000_012): 1,
        ("nps", "num", 60, 29_000_017): 3,
        ("nps", "den", 0, 29_000_024): 1,
    }


def test_a_chunk_is_written_by_series() -> None:
    """One array per series, a slot per minute: the KPI's name once, not once per step."""
    chunk = Chunk(start=29_000_000, applied={2: 7})
    chunk.series[("nps", "num", 60)] = [1, 0, 0, -1] + [0] * 11
    raw = chunk.encode()
    assert orjson.loads(raw) == {
        "start": 29_000_000,
        "applied": [[2, 7]],
        "series": {"nps|num|60": [1, 0, 0, -1] + [0] * 11},
    }
    assert Chunk.decode(raw) == chunk
    assert list(chunk.steps()) == [(("nps", "num", 60, 29_000_000), 1), (("nps", "num", 60, 29_000_003), -1)]


def test_a_step_that_cancels_out_leaves_no_empty_series() -> None:
    ledger = Ledger()
    ledger.apply("s", {("nps", "num", 60, 29_000_000): 1}, (0, 0))
    ledger.apply("s", {("nps", "num", 60, 29_000_000): -1}, (0, 1))
    assert all(not chunk.series for chunk in ledger.chunks.values())


def test_chunks_let_go_are_read_back_from_the_table_and_replays_still_skipped() -> None:
    """A ledger that keeps one chunk decoded, and reads the others back from its table,
    ends with the figures of one that keeps them all, replays included."""
    everything, table = Ledger(), {}
    lean = Ledger(cache_size=1)
    for offset in range(40):
        for ledger in (everything, lean):
            keys = ledger.apply("s", batch(offset), (offset % 3, offset), table.get)
            if ledger is lean:
                table.update({key: lean.value(key) for key in keys})
                lean.trim()
        if offset % 4 == 0:  # a replay: every chunk it touches was let go and is read back
            assert lean.apply("s", batch(offset), (offset % 3, offset), table.get) == set()
            lean.trim()
    assert len(lean.chunks) == 1
    assert totals(lean, "s", 3 * DAY) == totals(everything, "s", 3 * DAY)
    rebuilt = Ledger()
    rebuilt.load(table.items())
    assert totals(rebuilt, "s", 3 * DAY) == totals(everything, "s", 3 * DAY)


# --- the past folded into a base record per store ---------------------------------------

MONTH = 30 * DAY
T0 = 29_000_010 - 29_000_010 % 15  # a chunk's start


def long_batch(seed: int, first: int, days: int) -> dict[tuple[str, str, int, int], int]:
    """Steps as the engine makes them: a point, or a span's start and end (a window's
    width later, the longest included), over ``days`` days from minute ``first``."""
    rng = random.Random(seed)
    steps: dict[tuple[str, str, int, int], int] = {}
    for _ in range(12):
        part, minute = rng.choice(["num", "den"]), first + rng.randrange(days * DAY)
        width, amount = rng.choice([POINT, 60, DAY, 7 * DAY, MONTH]), rng.randrange(1, 9)
        starts = [(minute, amount)] if width == POINT else [(minute, amount), (minute + width, -amount)]
        for at, value in starts:
            steps[("aov", part, width, at)] = steps.get(("aov", part, width, at), 0) + value
    return steps


def month_totals(ledger: Ledger, store: str, cutoff: int) -> list[int]:
    series = ledger.stores[store]
    widths = (60, DAY, 7 * DAY, MONTH)
    return [series.component("aov", part, width, cutoff) for part in ("num", "den") for width in widths]


def write(table: dict[str, bytes], writes: dict[str, bytes | None]) -> None:
    for key, value in writes.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value


def rebuilt(table: dict[str, bytes]) -> Ledger:
    """A ledger loaded as the worker loads one: base records first."""
    ledger = Ledger()
    ledger.load(sorted(table.items(), key=lambda item: not item[0].endswith("|base")))
    return ledger


def before_folding(batches: int, days: int, partition: int) -> tuple[Ledger, Ledger, dict[str, bytes]]:
    """Two ledgers given the same ``batches`` of ``days`` days of steps from T0: one
    never to fold, one to fold, and the table the second wrote."""
    never, folding, table = Ledger(), Ledger(), {}
    for offset in range(batches):
        steps = long_batch(offset, T0, days)
        never.apply("s", steps, (partition, offset))
        write(table, {key: folding.value(key) for key in folding.apply("s", steps, (partition, offset))})
    return never, folding, table


def test_fold_line_is_a_day_behind_the_longest_window_at_a_chunks_start() -> None:
    now = 1_790_000_000.0
    line = fold_line(now)
    assert line % 15 == 0
    assert int(now // 60) - MONTH - DAY - 15 < line <= int(now // 60) - MONTH - DAY


def test_folded_chunks_leave_every_figure_as_it_was() -> None:
    """Three months of steps, the past folded as time goes on: the table keeps a month
    and a day of chunks and one base, and the figures, live or rebuilt from the table,
    are those of a ledger that never folded."""
    never, folding, table = Ledger(), Ledger(), {}
    for day in range(90):
        batch_steps = long_batch(day, T0 + day * DAY, 1)
        never.apply("s", batch_steps, (0, day))
        write(table, {key: folding.value(key) for key in folding.apply("s", batch_steps, (0, day))})
        write(table, folding.fold("s", T0 + day * DAY - MONTH - DAY, table.get))
    cutoff = T0 + 90 * DAY
    assert max(folding.chunk_starts["s"]) > cutoff  # spans still open
    assert month_totals(folding, "s", cutoff) == month_totals(never, "s", cutoff)
    assert month_totals(rebuilt(table), "s", cutoff) == month_totals(never, "s", cutoff)
    starts = [int(key.rsplit("|", 1)[1]) for key in table if not key.endswith("|base")]
    assert min(starts) >= T0 + 89 * DAY - MONTH - DAY
    base_series = orjson.loads(table["s|base"])["series"]
    assert base_series  # spans open at the line
    assert not [name for name in base_series if name.endswith(f"|{POINT}")]  # points past every window


def test_a_batch_behind_the_line_goes_to_the_base_once() -> None:
    """Steps older than the fold line (a batch a month late, or replayed) are added to
    the base, and a replay of them, or of a batch the base took in with its chunks, is
    skipped."""
    never, folding, table = before_folding(10, days=2, partition=1)
    line = T0 + 40 * DAY
    write(table, folding.fold("s", line, table.get))
    assert set(table) == {"s|base"}  # every span ended before the line
    assert folding.apply("s", long_batch(4, T0, 2), (1, 4), table.get) == set()  # taken in with its chunks
    late = long_batch(99, T0 + DAY, 1)
    for ledger in (never, folding):
        keys = ledger.apply("s", late, (1, 10), table.get)
        if ledger is folding:
            assert "s|base" in keys
            write(table, {key: ledger.value(key) for key in keys})
    assert folding.apply("s", late, (1, 10), table.get) == set()
    cutoff = T0 + 75 * DAY
    assert month_totals(folding, "s", cutoff) == month_totals(never, "s", cutoff)
    assert month_totals(rebuilt(table), "s", cutoff) == month_totals(never, "s", cutoff)


@pytest.mark.parametrize("deleted", [0, 1, 3])
def test_a_fold_cut_short_by_a_crash_counts_nothing_twice(deleted: int) -> None:
    """The base is written before the chunks it took in are deleted: a crash between
    leaves chunks behind the base's line, which a load skips and the next fold deletes."""
    never, folding, table = before_folding(6, days=3, partition=0)
    writes = list(folding.fold("s", T0 + 2 * DAY, table.get).items())
    assert writes[0][0] == "s|base"
    assert all(value is None for _, value in writes[1:])
    assert len(writes) > 3
    write(table, dict(writes[: 1 + deleted]))  # the crash: only the base and some deletions
    survivor = rebuilt(table)
    cutoff = T0 + 40 * DAY
    assert month_totals(survivor, "s", cutoff) == month_totals(never, "s", cutoff)
    assert len(survivor.leftovers.get("s", [])) == len(writes) - 1 - deleted
    write(table, survivor.fold("s", T0 + 2 * DAY, table.get))
    assert not any(key in table for key, _ in writes[1:])
    assert month_totals(rebuilt(table), "s", cutoff) == month_totals(never, "s", cutoff)


def test_a_base_record_round_trips() -> None:
    base = Base(below=T0, applied={0: 4, 3: 9}, series={("aov", "num", DAY): 5, ("nps", "den", 60): -2})
    assert orjson.loads(base.encode()) == {
        "below": T0,
        "applied": [[0, 4], [3, 9]],
        "series": {"aov|num|1440": 5, "nps|den|60": -2},
        "since": None,
    }
    assert Base.decode(base.encode()) == base
    dated = Base(below=T0, since=T0 - MONTH)
    assert Base.decode(dated.encode()) == dated
    # Written before "since" was: its events reach back to its line at least.
    assert Base.decode(b'{"below": 7, "applied": [], "series": {}}').since == 7


def test_an_hour_long_chunk_of_an_earlier_version_is_folded_only_once_wholly_behind() -> None:
    """Keys of hour-long chunks (before November 2026) name the hour, far behind any
    line: such a chunk is folded by the minutes its steps name, not by its key."""
    hour = (T0 + 45) // 60
    steps = {("aov", "num", 60, T0 + 50): 2, ("aov", "num", 60, T0 + 110): -2}
    pairs = [[list(step), amount] for step, amount in steps.items()]
    table = {f"s|{hour}": orjson.dumps({"applied": {"0": 0}, "pairs": pairs})}
    ledger = rebuilt(table)
    assert ledger.fold("s", T0 + 60, table.get) == {}  # its last step is at T0 + 110
    write(table, ledger.fold("s", T0 + 120, table.get))
    assert set(table) == {"s|base"}
    assert month_totals(rebuilt(table), "s", T0 + 200) == [0] * 8


def test_data_since_is_the_first_chunks_start_then_the_fold_line() -> None:
    """What a worker exports as the earliest event time it holds for a store: the start of
    its first chunk, earlier once a late batch lands before it, and the base's line once
    the past is folded. A rebuilt ledger says the same."""
    ledger, table = Ledger(), {}
    assert ledger.data_since("s") is None
    write(
        table,
        {key: ledger.value(key) for key in ledger.apply("s", {("aov", "den", POINT, T0 + 100): 1}, (0, 1))},
    )
    assert ledger.data_since("s") == T0 + 90  # the quarter hour holding minute T0 + 100
    write(
        table,
        {key: ledger.value(key) for key in ledger.apply("s", {("aov", "den", POINT, T0 + 20): 1}, (0, 2))},
    )
    assert ledger.data_since("s") == T0 + 15
    assert rebuilt(table).data_since("s") == T0 + 15
    line = T0 + 40 * DAY
    write(table, ledger.fold("s", line, table.get))
    assert ledger.data_since("s") == rebuilt(table).data_since("s") == T0 + 15  # kept by the base


def test_data_since_leaves_out_steps_at_a_promised_time() -> None:
    """An order's due point lies at its promise, which may precede every event: it does not
    count as history, in the ledger or in its base."""
    ledger, table = Ledger(), {}
    promise_long_ago = {("on_time_delivery", "den", POINT, T0): 1}
    write(table, {key: ledger.value(key) for key in ledger.apply("s", promise_long_ago, (0, 1))})
    assert ledger.data_since("s") is None
    ordered_now = {("aov", "den", POINT, T0 + 40 * DAY): 1, ("on_time_delivery", "den", POINT, T0 + DAY): 1}
    write(table, {key: ledger.value(key) for key in ledger.apply("s", ordered_now, (0, 2))})
    assert ledger.data_since("s") == T0 + 40 * DAY
    write(table, ledger.fold("s", T0 + 39 * DAY, table.get))  # both promise chunks folded
    assert ledger.data_since("s") == rebuilt(table).data_since("s") == T0 + 40 * DAY
