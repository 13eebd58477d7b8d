"""Time formats of the API: Cloud Assistant uses seconds, DescribeInstances uses minutes (docs/api-contract.md#wire-protocol)."""
from __future__ import annotations

import calendar
import time


def iso_seconds(ts: float | None) -> str:
    """``2020-05-11T09:01:40Z``; empty string for 'not happened yet', as the service does."""
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def iso_minutes(ts: float | None) -> str:
    """``2017-12-10T04:04Z`` (DescribeInstances' CreationTime/StartTime)."""
    return "" if ts is None else time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime(ts))


def parse_timestamp(value: str) -> float:
    """Parse the signed ``Timestamp`` common parameter; raises ValueError if malformed."""
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ"):
        try:
            return float(calendar.timegm(time.strptime(value, fmt)))
        except ValueError:
            continue
    raise ValueError(value)
