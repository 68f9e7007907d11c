import threading

import pytest

from foundation.clock import RealClock, ScaledClock, VirtualClock, make_clock, utc_iso


def test_virtual_clock_sleep_advances_at_once():
    clock = VirtualClock(start=10.0)
    clock.sleep(3600.0)
    assert clock.now() == pytest.approx(3610.0)
    clock.sleep(-5)  # negative sleeps are no-ops, never move time back
    assert clock.now() == pytest.approx(3610.0)


def test_virtual_sleep_until_never_goes_back():
    clock = VirtualClock()
    clock.sleep_until(5.0)
    clock.sleep_until(2.0)
    assert clock.now() == 5.0


def test_virtual_clock_thread_safe_sum():
    clock = VirtualClock()

    def work():
        for _ in range(1000):
            clock.sleep(0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now() == pytest.approx(4.0)


def test_wall_time_follows_experiment_time():
    clock = VirtualClock()
    w0 = clock.wall_utc()
    clock.sleep(90.0)
    assert (clock.wall_utc() - w0).total_seconds() == pytest.approx(90.0)
    assert utc_iso(clock.wall_utc()).endswith("Z")


def test_scaled_clock_runs_faster_than_real():
    real, fast = RealClock(), ScaledClock(1000.0)
    r0, f0 = real.now(), fast.now()
    fast.sleep(2.0)  # two experiment seconds = 2 ms of wall time
    assert fast.now() - f0 >= 2.0
    assert real.now() - r0 < 1.0  # generous: not a timing assertion, a factor-1000 sanity check
    assert fast.wall_seconds(10.0) == pytest.approx(0.01)


def test_scaled_clock_rejects_nonpositive_factor():
    with pytest.raises(ValueError, match="time scale"):
        ScaledClock(0)


def test_make_clock():
    assert isinstance(make_clock(virtual=True), VirtualClock)
    assert isinstance(make_clock(time_scale=10), ScaledClock)
    assert isinstance(make_clock(), RealClock)


def test_fast_utc_text_matches_datetime_formatting():
    import random
    from datetime import datetime, timezone

    from foundation.clock import utc_iso_from_epoch

    rng = random.Random(1)
    for _ in range(2000):
        epoch = rng.uniform(0, 4e9) // 1e-3 * 1e-3  # whole milliseconds: no half-microsecond ties
        expected = utc_iso(datetime.fromtimestamp(epoch, timezone.utc))
        assert utc_iso_from_epoch(epoch) == expected
    assert utc_iso_from_epoch(86400 - 1e-7) == "1970-01-02T00:00:00.000000Z"  # rounds into the next day


def test_clock_utc_follows_experiment_time():
    clock = VirtualClock()
    clock.sleep(3.25)
    assert clock.utc() == utc_iso(clock.wall_utc())[:-4] + clock.utc()[-4:]  # same to the millisecond


def test_fast_utc_text_is_strftimes_text_anywhere_and_in_any_order():
    import random
    from datetime import datetime, timedelta, timezone

    from foundation.clock import utc_iso, utc_iso_from_epoch

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    rng = random.Random(3)
    moments = [round(rng.uniform(0, 4e9), 6) for _ in range(2000)]
    moments += [1.7e9 + 59.999999, 1.7e9 + 60.0, 1.7e9 + 60.000001, 0.0, 86399.999999]
    for t in moments:  # random order: the per-minute cache must follow every jump
        assert utc_iso_from_epoch(t) == utc_iso(epoch + timedelta(microseconds=round(t * 1e6))), t


def test_parse_utc_reads_back_what_utc_iso_writes():
    from datetime import datetime, timezone

    from foundation.clock import parse_utc, utc_iso

    moment = datetime(2026, 12, 1, 9, 41, 7, 123456, tzinfo=timezone.utc)
    assert parse_utc(utc_iso(moment)) == moment
    assert parse_utc("2026-12-01T09:41:07") == moment.replace(microsecond=0)  # no zone: UTC
    assert parse_utc("not a stamp") is None and parse_utc(None) is None
