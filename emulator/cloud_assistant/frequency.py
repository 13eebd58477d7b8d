"""``Frequency`` of RepeatMode=Period (docs/api-contract.md#schedules): ``rate(5m)``, ``at(2030-01-01 10:00:00 Asia/Shanghai)`` and
Quartz-style cron with seconds, optional year and time zone. Parsed once at RunCommand; ``next_after`` drives runs."""
from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ApiError

RATE = re.compile(r"^rate\((\d+)([smhd])\)$")
AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?:\s+(\S+))?\)$")
GMT = re.compile(r"^GMT([+-])(\d{1,2}):(\d{2})$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MONTHS = {m.upper(): n for n, m in enumerate(calendar.month_abbr) if m}
DAYS = {d: n for n, d in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), 1)}  # Quartz: SUN=1
MAX_RATE = 7 * 86400


def bad() -> ApiError:
    """The API-side rejection of a malformed or out-of-range Frequency."""
    return ApiError("InvalidParam.Frequency", "The specified frequency is invalid.")


def zone(name: str | None) -> dt.tzinfo:
    """IANA name, ``GMT+8:00`` / ``GMT-7:00``, ``UTC``; absent → UTC (⚠ cron's default is the instance's time
    zone; emulated instances run in UTC)."""
    if not name or name == "UTC":
        return dt.timezone.utc
    if m := GMT.match(name):
        if m.group(2).startswith("0") and len(m.group(2)) > 1:
            raise bad()  # documented form has no leading zero on the hour
        offset = dt.timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
        return dt.timezone(offset if m.group(1) == "+" else -offset)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad() from None


def field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """One cron field: ``*``, ``?``, ``a``, ``a-b``, ``a/n``, ``a-b/n``, ``*/n``, lists; names for month/day."""
    values: set[int] = set()
    for part in text.upper().split(","):
        base, _sep, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() and int(step_text) > 0 else (1 if not step_text else 0)
        if step == 0:
            raise bad()
        if base in ("*", "?"):
            start, end = low, high
        else:
            bounds = [names[b] if names and b in names else int(b) if b.isdigit() else -1 for b in base.split("-")]
            if len(bounds) > 2 or any(not low <= b <= high for b in bounds):
                raise bad()
            start, end = bounds[0], bounds[-1] if len(bounds) == 2 else (high if step_text else bounds[0])
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression; ``next_after`` walks days, then the matching times of a day."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    years: frozenset[int] | None
    tz: dt.tzinfo

    def next_after(self, ts: float) -> float | None:
        """First fire time strictly after ``ts`` (None when the years run out)."""
        start = dt.datetime.fromtimestamp(ts, self.tz).replace(microsecond=0) + dt.timedelta(seconds=1)
        day = start.date()
        for _offset in range(366 * 5):
            if self._day_matches(day):
                first = start.time() if day == start.date() else dt.time(0, 0, 0)
                for hour in sorted(h for h in self.hours if h >= first.hour):
                    for minute in sorted(self.minutes):
                        for second in sorted(self.seconds):
                            when = dt.time(hour, minute, second)
                            if when >= first:
                                return dt.datetime.combine(day, when, self.tz).timestamp()
            day += dt.timedelta(days=1)
        return None

    def _day_matches(self, day: dt.date) -> bool:
        quartz_weekday = day.isoweekday() % 7 + 1
        return (day.month in self.months and day.day in self.days and quartz_weekday in self.weekdays
                and (self.years is None or day.year in self.years))


@dataclass(frozen=True)
class Schedule:
    """What a Period invocation does: every ``interval`` seconds after the previous run ended (rate), once at
    ``at``, or on the cron's fire times."""

    interval: float | None = None
    at: float | None = None
    cron: Cron | None = None

    def first(self, now: float) -> float | None:
        """When the first run is due (rate: one interval after creation)."""
        return self.at if self.at is not None else self.following(now)

    def following(self, last_end: float) -> float | None:
        """When the next run is due after a run ended (None: the schedule is over)."""
        if self.interval is not None:
            return last_end + self.interval
        if self.cron is not None:
            return self.cron.next_after(last_end)
        return None


def parse(text: str, timeout: int, now: float, min_interval: float = 0, check: bool = True) -> Schedule:
    """Validate a Frequency and build its Schedule; ``min_interval`` > 0 replaces the documented minimums (rate 60 s,
    cron 10 s) so tests can run fast schedules. ``check=False`` rebuilds a stored, already accepted one."""
    text = text.strip()
    if m := RATE.match(text):
        interval = int(m.group(1)) * UNITS[m.group(2)]
        if check and (interval < (min_interval or 60) or interval > MAX_RATE or interval <= timeout):
            raise bad()
        return Schedule(interval=float(interval))
    if m := AT.match(text):
        try:
            local = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise bad() from None
        when = local.replace(tzinfo=zone(m.group(2))).timestamp()
        if check and when <= now:
            raise bad()  # ⚠ a time in the past is rejected rather than never run
        return Schedule(at=when)
    return Schedule(cron=parse_cron(text, timeout, now, min_interval, check))


def parse_cron(text: str, timeout: int, now: float, min_interval: float, check: bool) -> Cron:
    """``sec min hour dom month dow [year] [TZ]``; L, W and # are not supported (→ InvalidParam.Frequency)."""
    parts = text.split()
    tz = dt.timezone.utc
    if len(parts) in (7, 8) and not re.match(r"^[\d*,/?-]+$", parts[-1]):
        tz = zone(parts.pop())
    if len(parts) not in (6, 7):
        raise bad()
    cron = Cron(seconds=field(parts[0], 0, 59), minutes=field(parts[1], 0, 59), hours=field(parts[2], 0, 23),
                days=field(parts[3], 1, 31), months=field(parts[4], 1, 12, MONTHS),
                weekdays=field(parts[5], 1, 7, DAYS),
                years=field(parts[6], 1970, 2099) if len(parts) == 7 else None, tz=tz)
    first = cron.next_after(now)
    if not check:
        return cron
    if first is None:
        raise bad()
    second = cron.next_after(first)
    if second is not None and (second - first < (min_interval or 10) or second - first < timeout):
        raise bad()
    return cron
