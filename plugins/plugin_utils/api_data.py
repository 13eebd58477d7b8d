# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Strings the cloud API returns are data on the controller, never templates.

Whoever may tag, rename or describe an instance writes these strings. ansible-core before 2.19 renders
every plain string it reads from a host variable as a template, so a tag value such as
``{{ lookup('pipe', 'id') }}`` would run on the controller as soon as a play read it. There such values
are marked unsafe (``wrap_var``), which that templar passes through as text, and templates derived from
them (compose, keyed groups) stay unsafe too. From 2.19 on only a string tagged as trusted is ever a
template, and data parsed from an API response never is, so the values pass unchanged there.

Host names stay plain text instead: marked, ansible-core 2.17 prints every host of every group as
``{"__ansible_unsafe": ...}`` in ``ansible-inventory --list``, which tools reading that list do not expect.
A name is safe unmarked as long as it holds no template syntax, so the inventory refuses one that does.
"""

from __future__ import annotations

import re
import typing as t

try:
    from ansible.template import trust_as_template  # noqa: F401  pylint: disable=unused-import
except ImportError:  # ansible-core < 2.19: plain strings are templates unless marked unsafe
    from ansible.utils.unsafe_proxy import wrap_var as _mark
else:
    _mark = None

# What starts a Jinja statement, expression or comment; a string without one of them renders as itself.
_TEMPLATE_START = re.compile(r"\{[{%#]")


def as_data(value: t.Any) -> t.Any:
    """``value`` (nested dicts and lists included) such that no string in it is ever rendered as a template."""
    return value if _mark is None else _mark(value)


def holds_template(text: str) -> bool:
    """True when ``text`` contains template syntax, which ansible-core before 2.19 would render."""
    return _TEMPLATE_START.search(text) is not None
