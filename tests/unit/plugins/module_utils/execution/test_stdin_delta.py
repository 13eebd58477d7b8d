"""Deltas between module payloads: exact, small for what ansible changes between runs, refused when big."""

from __future__ import annotations

import base64
import os
import random

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_delta import make_delta, module_name


def payload(args: str, stamp: int, body: bytes) -> bytes:
    """Shaped like an AnsiballZ wrapper: interpreter line, module name, arguments, then the zip, in which
    ansible stamps every entry with the moment the zip was built (two bytes every few KB here)."""
    stamped = bytearray(body)
    for offset in range(1000, len(stamped), 2700):
        stamped[offset:offset + 2] = b"%02d" % stamp
    return (b"#!/usr/bin/python3\nimport datetime\n" + b"\n" * 30 + b"module_fqn='ansible.modules.command',\n"
            + f"params={args!r},\n".encode() + b"zip_data='" + bytes(stamped) + b"',\n")


BODY = base64.b64encode(os.urandom(120_000))


def test_a_new_playbook_run_of_the_same_task_is_a_few_small_edits() -> None:
    base, new = payload("echo hi", 11, BODY), payload("echo hi", 42, BODY)
    delta = make_delta(base, new, max_edits=1024, max_bytes=48 * 1024)
    assert delta is not None and delta.apply(base) == new
    assert len(delta.edits) >= 40 and len(delta.middle) + sum(len(data) for _offset, data in delta.edits) < 200


def test_other_arguments_shift_the_rest_and_still_make_a_small_delta() -> None:
    base, new = payload("echo hi", 11, BODY), payload("echo a much longer argument", 42, BODY)
    delta = make_delta(base, new, max_edits=1024, max_bytes=48 * 1024)
    assert delta is not None and delta.apply(base) == new
    assert len(delta.middle) < 100, "the ends are aligned, so only the arguments are spliced in"


def test_identical_and_cut_payloads() -> None:
    base = payload("x", 1, BODY)
    same = make_delta(base, base, 10, 10)
    assert same is not None and same.apply(base) == base and not same.middle and not same.edits
    for new in (base[:5000], base + b"more", b"", b"#!" + base[2:]):
        delta = make_delta(base, new, 10, 10_000)
        assert delta is not None and delta.apply(base) == new


def test_unrelated_data_is_refused_rather_than_sent_as_a_huge_delta() -> None:
    assert make_delta(os.urandom(160_000), os.urandom(160_000), max_edits=1024, max_bytes=48 * 1024) is None
    many = bytearray(BODY)
    for offset in range(0, len(many), 100):
        many[offset] ^= 1
    assert make_delta(BODY, bytes(many), max_edits=100, max_bytes=48 * 1024) is None


def test_random_edits_always_round_trip() -> None:
    rng = random.Random(7)
    for _case in range(2000):
        base = bytes(rng.choice(b"ab") for _byte in range(rng.randint(0, 60)))
        new = bytearray(base)
        for _edit in range(rng.randint(0, 4)):
            where = rng.randint(0, len(new))
            kind = rng.randint(0, 2)
            if kind == 0:
                new[where:where] = bytes(rng.choice(b"abc") for _byte in range(rng.randint(1, 5)))
            elif kind == 1:
                del new[where:where + rng.randint(1, 5)]
            else:
                new[where:where + 1] = b"c"
        delta = make_delta(base, bytes(new), 1000, 1000)
        assert delta is not None and delta.apply(base) == bytes(new), (base, bytes(new))


def test_only_module_payloads_have_a_module_name() -> None:
    assert module_name(payload("x", 1, BODY)) == "ansible.modules.command"
    assert module_name(b"secret-become-password\n" + payload("x", 1, BODY)) is None, "never kept on the instance"
    assert module_name(b"#!/bin/sh\necho no module here\n") is None
    assert module_name(None) is None
