# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled-job schedules: turn the user's ``schedule`` dict into the API's RepeatMode and Frequency.

Everything the service would reject with InvalidParam.Frequency (docs/api-contract.md#schedules) is caught here, before
any API call, with a message that names the field and the limit; a playbook author learns what is wrong
without a round trip and without a half-applied change.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import typing as t
from dataclasses import dataclass

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    HAS_ZONEINFO = True
except ImportError:  # Python < 3.9: only UTC and GMT+h:mm zones can be checked
    HAS_ZONEINFO = False

SCHEDULE_KINDS = ("cron", "rate", "at", "next_reboot", "every_reboot")
RATE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_RATE = 60            # docs/api-contract.md#schedules: 60 s ≤ rate ≤ 7 d, and longer than Timeout
MAX_RATE = 7 * 86400
MIN_CRON_GAP = 10        # docs/api-contract.md#schedules: cron fires at least 10 s apart, and no closer than Timeout
DEFAULT_TIMEOUT = 60     # RunCommand's Timeout when none is sent (docs/api-contract.md#runcommand)
CRON_SAMPLES = 200       # consecutive fire times inspected for the closest pair
MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # Quartz numbering: SUN=1 … SAT=7
GMT_ZONE = re.compile(r"^GMT([+-])([1-9]?\d):([0-5]\d)$")
RATE_TEXT = re.compile(r"^(?:rate\()?\s*(\d+)\s*([smhd])\s*\)?$")


class ScheduleError(ValueError):
    """A schedule the service would refuse; the message names the offending field."""


@dataclass(frozen=True)
class Schedule:
    """What goes on the wire (RepeatMode, Frequency) and what it means for the job's lifecycle.

    ``finite`` schedules end on their own (one ``at`` run, the next reboot, a cron whose years run out):
    a finished invocation of such a job is the job done, not a job to start again.
    """

    kind: str
    repeat_mode: str
    frequency: str | None
    finite: bool
    interval: int | None = None
    at: dt.datetime | None = None

    def as_dict(self) -> dict[str, t.Any]:
        """The normalised form used for the definition hash, the diff and the module's return."""
        return {"kind": self.kind, "repeat_mode": self.repeat_mode, "frequency": self.frequency}


def parse_schedule(schedule: t.Mapping[str, t.Any], timeout: int | None = None,
                   now: dt.datetime | None = None) -> Schedule:
    """Validate ``schedule`` (exactly one of SCHEDULE_KINDS) against the documented limits (docs/api-contract.md#schedules).

    ``timeout`` is the job's run timeout when known (rate and cron must leave room for one run).
    An ``at`` time in the past is checked separately (``check_at_future``): a one-shot job that has
    already run is a finished job, and re-applying the same playbook must not fail on it.
    """
    given = [key for key in SCHEDULE_KINDS if schedule.get(key) not in (None, False, "")]
    unknown = sorted(set(schedule) - set(SCHEDULE_KINDS))
    if unknown:
        raise ScheduleError(f"schedule: unknown key(s) {', '.join(unknown)}; use one of {', '.join(SCHEDULE_KINDS)}")
    if len(given) != 1:
        raise ScheduleError(f"schedule: give exactly one of {', '.join(SCHEDULE_KINDS)} (got {len(given)})")
    kind = given[0]
    value = schedule[kind]
    now = now or dt.datetime.now(dt.timezone.utc)
    if kind in ("next_reboot", "every_reboot"):
        if value is not True:
            raise ScheduleError(f"schedule.{kind}: must be true")
        mode = "NextRebootOnly" if kind == "next_reboot" else "EveryReboot"
        return Schedule(kind, mode, None, finite=kind == "next_reboot")
    if not isinstance(value, str):
        raise ScheduleError(f"schedule.{kind}: must be a string, got {type(value).__name__}")
    if kind == "rate":
        return _rate(value, timeout)
    if kind == "at":
        return _at(value)
    return _cron(value, timeout, now)


def check_at_future(schedule: Schedule, now: dt.datetime | None = None) -> None:
    """An ``at`` job can only be created for a time still ahead (the service rejects past times)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    if schedule.at is not None and schedule.at <= now:
        raise ScheduleError(f"schedule.at: {schedule.at.isoformat()} is in the past; a new job needs a future time")


def _rate(text: str, timeout: int | None) -> Schedule:
    """``5m`` or ``rate(5m)`` → ``rate(5m)``; Period runs one interval after the previous run ended."""
    match = RATE_TEXT.match(text.strip())
    if not match:
        raise ScheduleError(f"schedule.rate: {text!r} is not <number><s|m|h|d>, e.g. 5m")
    interval = int(match.group(1)) * RATE_UNITS[match.group(2)]
    if not MIN_RATE <= interval <= MAX_RATE:
        raise ScheduleError(f"schedule.rate: {text!r} is {interval}s; it must be between {MIN_RATE}s and 7d")
    run_time = DEFAULT_TIMEOUT if timeout is None else timeout
    if interval <= run_time:
        raise ScheduleError(f"schedule.rate: {interval}s must be longer than the timeout ({run_time}s)")
    return Schedule("rate", "Period", f"rate({match.group(1)}{match.group(2)})", finite=False, interval=interval)


def _at(text: str) -> Schedule:
    """An ISO 8601 time (naive = UTC) → ``at(yyyy-MM-dd HH:mm:ss UTC)``, normalised so equal times hash equal.

    RunCommand (docs/api-contract.md#runcommand) forces RepeatMode Period whenever a Frequency is given, so a one-shot ``at`` job is
    sent as Period + ``at(...)``, not as Once.
    """
    try:
        when = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(f"schedule.at: {text!r} is not an ISO 8601 time such as 2030-01-01T10:00:00+08:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    when = when.astimezone(dt.timezone.utc).replace(microsecond=0)
    return Schedule("at", "Period", f"at({when:%Y-%m-%d %H:%M:%S} UTC)", finite=True, at=when)


def zone(name: str, field: str = "schedule.cron") -> dt.tzinfo:
    """IANA name, ``UTC`` or ``GMT+8:00`` / ``GMT-7:00`` (no leading zero on the hour, docs/api-contract.md#schedules)."""
    if name == "UTC":
        return dt.timezone.utc
    match = GMT_ZONE.match(name)
    if match and not (len(match.group(2)) == 2 and match.group(2).startswith("0")):
        offset = dt.timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
        if offset > dt.timedelta(hours=14):
            raise ScheduleError(f"{field}: time zone {name!r} is more than 14 hours from UTC")
        return dt.timezone(offset if match.group(1) == "+" else -offset)
    if name.startswith("GMT"):
        raise ScheduleError(f"{field}: time zone {name!r} must look like GMT+8:00 or GMT-7:00")
    if HAS_ZONEINFO:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise ScheduleError(f"{field}: unknown time zone {name!r}; use an IANA name, UTC or GMT+8:00")


@dataclass(frozen=True)
class CronFields:
    """The value sets of a parsed Quartz expression (AND of day-of-month and day-of-week, since at most one
    of them is restricted)."""

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    years: frozenset[int] | None
    tz: dt.tzinfo


CRON_FIELDS = (("second", 0, 59, ()), ("minute", 0, 59, ()), ("hour", 0, 23, ()),
               ("day-of-month", 1, 31, ()), ("month", 1, 12, MONTH_NAMES), ("day-of-week", 1, 7, DAY_NAMES),
               ("year", 1970, 2099, ()))


def _cron(text: str, timeout: int | None, now: dt.datetime) -> Schedule:
    """Quartz cron with seconds, optional year and time zone; its fire times must be far enough apart."""
    parts = text.split()
    tz: dt.tzinfo = dt.timezone.utc  # ⚠ the service's default is the instance's zone; UTC only for our gap check
    if len(parts) == 8 or (len(parts) == 7 and not re.match(r"^[\d*?,/-]+$", parts[-1])):
        tz = zone(parts.pop())  # a 7th field of digits is the year; anything else is the zone
    if len(parts) not in (6, 7):
        raise ScheduleError(f"schedule.cron: {text!r} needs 6 or 7 fields (sec min hour day month weekday [year]) "
                            "and an optional time zone")
    values = [_cron_field(part, *spec) for part, spec in zip(parts, CRON_FIELDS)]
    if parts[3] not in ("*", "?") and parts[5] not in ("*", "?"):
        raise ScheduleError("schedule.cron: restrict day-of-month or day-of-week, not both (use ? in one of them)")
    fields = CronFields(tuple(sorted(values[0])), tuple(sorted(values[1])), tuple(sorted(values[2])),
                        frozenset(values[3]), frozenset(values[4]), frozenset(values[5]),
                        frozenset(values[6]) if len(values) == 7 and parts[6] not in ("*", "?") else None, tz)
    fires = list(itertools.islice(fire_times(fields, now), CRON_SAMPLES))
    if not fires:
        raise ScheduleError(f"schedule.cron: {text!r} never fires after {now:%Y-%m-%d %H:%M:%S} UTC")
    gaps = [int((later - earlier).total_seconds()) for earlier, later in zip(fires, fires[1:])]
    floor = max(MIN_CRON_GAP, DEFAULT_TIMEOUT if timeout is None else timeout)
    if gaps and min(gaps) < floor:
        raise ScheduleError(f"schedule.cron: {text!r} fires {min(gaps)}s apart; runs must be at least {floor}s apart "
                            f"(the minimum is {MIN_CRON_GAP}s and the timeout)")
    return Schedule("cron", "Period", " ".join(text.split()), finite=fields.years is not None)


def _cron_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """One field: ``*``, ``?`` (day fields only), ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n`` and lists thereof."""
    where = f"schedule.cron: {name} field {text!r}"
    if text == "?" and name not in ("day-of-month", "day-of-week"):
        raise ScheduleError(f"{where}: ? is only allowed for day-of-month or day-of-week")
    values: set[int] = set()
    for item in text.upper().split(","):
        base, slash, step_text = item.partition("/")
        if slash and not (step_text.isdigit() and int(step_text) > 0):
            raise ScheduleError(f"{where}: step must be a positive number")
        step = int(step_text) if slash else 1
        if base in ("*", "?"):
            start, end = low, high
        else:
            bounds = [_cron_value(bound, names, where) for bound in base.split("-")]
            if len(bounds) > 2 or any(not low <= bound <= high for bound in bounds):
                raise ScheduleError(f"{where}: values must be within {low}-{high}")
            start = bounds[0]
            end = bounds[1] if len(bounds) == 2 else (high if slash else start)
            if end < start:
                raise ScheduleError(f"{where}: range {base} runs backwards")
        values.update(range(start, end + 1, step))
    return values


def _cron_value(token: str, names: tuple[str, ...], where: str) -> int:
    if token in names:
        return names.index(token) + 1
    if token.endswith(("L", "W")) or "#" in token:
        # ⚠ Quartz has L, W and #; docs/api-contract.md#schedules names none of them, so they are refused
        raise ScheduleError(f"{where}: L, W and # are not supported")
    if not token.isdigit():
        raise ScheduleError(f"{where}: {token!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    return int(token)


def fire_times(fields: CronFields, after: dt.datetime) -> t.Iterator[dt.datetime]:
    """Fire times strictly after ``after``, in order, as aware datetimes in the expression's zone."""
    start = after.astimezone(fields.tz).replace(microsecond=0)
    day = start.date()
    last_year = max(fields.years) if fields.years else day.year + 5
    while day.year <= last_year:
        quartz_weekday = day.isoweekday() % 7 + 1
        on_day = day.month in fields.months and day.day in fields.days and quartz_weekday in fields.weekdays
        if on_day and (fields.years is None or day.year in fields.years):
            for hour, minute, second in itertools.product(fields.hours, fields.minutes, fields.seconds):
                when = dt.datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=fields.tz)
                if when > start:
                    yield when
        day += dt.timedelta(days=1)
