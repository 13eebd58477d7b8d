"""Schedule parsing: the user's schedule dict → RepeatMode/Frequency, and the documented limits (docs/api-contract.md#schedules)."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.services.schedules import (
    ScheduleError, check_at_future, parse_schedule,
)

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.timezone.utc)


def parsed(timeout: int | None = 10, **schedule):
    return parse_schedule(schedule, timeout, NOW)


@pytest.mark.parametrize("schedule, mode, frequency", [
    ({"rate": "5m"}, "Period", "rate(5m)"),
    ({"rate": "rate(2h)"}, "Period", "rate(2h)"),
    ({"rate": "60s"}, "Period", "rate(60s)"),
    ({"rate": "7d"}, "Period", "rate(7d)"),
    ({"cron": "0 */10 * * * ? Asia/Shanghai"}, "Period", "0 */10 * * * ? Asia/Shanghai"),
    ({"cron": "0  15 10 ? * *   2030 GMT+8:00"}, "Period", "0 15 10 ? * * 2030 GMT+8:00"),
    ({"cron": "0 0 9 ? * MON-FRI"}, "Period", "0 0 9 ? * MON-FRI"),
    ({"cron": "0 0 0 1 JAN,JUL ? UTC"}, "Period", "0 0 0 1 JAN,JUL ? UTC"),
    ({"at": "2030-01-01T10:00:00+08:00"}, "Period", "at(2030-01-01 02:00:00 UTC)"),
    ({"at": "2030-01-01 02:00:00"}, "Period", "at(2030-01-01 02:00:00 UTC)"),
    ({"at": "2030-01-01T02:00:00Z"}, "Period", "at(2030-01-01 02:00:00 UTC)"),
    ({"next_reboot": True}, "NextRebootOnly", None),
    ({"every_reboot": True, "rate": None}, "EveryReboot", None),
])
def test_each_kind_maps_to_the_contracts_repeat_mode(schedule, mode, frequency) -> None:
    result = parse_schedule(schedule, 10, NOW)
    assert (result.repeat_mode, result.frequency) == (mode, frequency)


def test_finite_schedules_are_the_ones_that_end_by_themselves() -> None:
    assert parsed(at="2030-01-01T00:00:00").finite and parsed(next_reboot=True).finite
    assert parsed(cron="0 0 0 1 1 ? 2030").finite
    assert not parsed(rate="5m").finite and not parsed(every_reboot=True).finite
    assert not parsed(cron="0 0 0 * * ? *").finite


@pytest.mark.parametrize("schedule, message", [
    ({}, "exactly one of"),
    ({"rate": "5m", "cron": "0 * * * * ?"}, "exactly one of"),
    ({"daily": True}, "unknown key(s) daily"),
    ({"next_reboot": "yes"}, "schedule.next_reboot: must be true"),
    ({"rate": 5}, "schedule.rate: must be a string"),
    ({"rate": "5 minutes"}, "schedule.rate: '5 minutes' is not"),
    ({"rate": "30s"}, "between 60s and 7d"),
    ({"rate": "8d"}, "between 60s and 7d"),
    ({"at": "tomorrow"}, "schedule.at: 'tomorrow' is not an ISO 8601"),
    ({"cron": "0 * * * *"}, "needs 6 or 7 fields"),
    ({"cron": "*/5 * * * * ?"}, "fires 5s apart"),
    ({"cron": "0,5 * * * * ?"}, "fires 5s apart"),
    ({"cron": "0 60 * * * ?"}, "minute field '60': values must be within 0-59"),
    ({"cron": "0 0 0 L * ?"}, "L, W and # are not supported"),
    ({"cron": "0 0 0 ? * 2#1"}, "L, W and # are not supported"),
    ({"cron": "0 0 0 1 * MON"}, "not both"),
    ({"cron": "? 0 0 * * ?"}, "? is only allowed"),
    ({"cron": "0 0/0 * * * ?"}, "step must be a positive number"),
    ({"cron": "0 0 5-2 * * ?"}, "runs backwards"),
    ({"cron": "0 0 0 * FOO ?"}, "'FOO' is not a number or one of JAN"),
    ({"cron": "0 0 0 * * ? Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
    ({"cron": "0 0 0 * * ? GMT+08:00"}, "must look like GMT+8:00"),
    ({"cron": "0 0 0 1 1 ? 2020"}, "never fires"),
])
def test_bad_schedules_name_the_field_and_the_limit(schedule, message) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(schedule, 10, NOW)
    assert message in str(raised.value)


def test_runs_must_leave_room_for_the_timeout() -> None:
    with pytest.raises(ScheduleError, match=r"schedule.rate: 120s must be longer than the timeout \(120s\)"):
        parsed(timeout=120, rate="2m")
    with pytest.raises(ScheduleError, match=r"fires 30s apart; runs must be at least 60s apart"):
        parsed(timeout=None, cron="*/30 * * * * ?")  # no timeout given: the API's default of 60 s applies
    assert parsed(timeout=10, cron="*/10 * * * * ?").frequency == "*/10 * * * * ?"


def test_closest_pair_of_fire_times_counts_not_the_first_two() -> None:
    with pytest.raises(ScheduleError, match="fires 60s apart"):
        parsed(timeout=120, cron="0 0,59 0,23 * * ?")  # 23:59 → 00:00 is the close pair


def test_equal_at_times_normalise_to_one_frequency() -> None:
    assert parsed(at="2030-01-01T10:00:00+08:00").frequency == parsed(at="2030-01-01T02:00:00Z").frequency


def test_at_in_the_past_is_only_refused_for_a_new_job() -> None:
    schedule = parsed(at="2020-01-01T00:00:00")
    with pytest.raises(ScheduleError, match="schedule.at: .* is in the past"):
        check_at_future(schedule, NOW)
    check_at_future(parsed(at="2030-01-01T00:00:00"), NOW)
    check_at_future(parsed(rate="5m"), NOW)
