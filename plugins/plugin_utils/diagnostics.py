# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The API client's diagnostics, shown through ansible's own display.

The client calls ``log(verbosity, message)`` (0: a call still failing, every 10 s; 3: retries and invocations;
4: one line per API call);
controller-side plugins (connection, inventory, action) pass this hook so the lines appear at -vvv and
-vvvv like ansible's own, tagged with the host where there is one.
"""

from __future__ import annotations

import typing as t

from ansible.utils.display import Display


def display_log(display: Display, host: str | None = None) -> t.Callable[[int, str], None]:
    """A client log hook printing through ``display`` at the given -v count."""

    def log(verbosity: int, message: str) -> None:
        if verbosity <= 0:  # a stalled call (an API outage being waited out): shown without -v
            display.display(f"<{host}> {message}" if host else message)
            return
        display.verbose(message, host=host, caplevel=verbosity - 1)

    return log
