"""Deltas between module payloads: exact, small for what ansible changes between runs, refused when big."""

from __future__ import annotations

import ast
import base64
import json
import os
import random
import subprocess
import sys

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_delta import (
    ARGS_PLACEHOLDER, carries_arguments, make_delta, module_name, split_arguments,
)


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


# Builds a module payload exactly as ansible-core's module_common (the installed line) does for a task, in its own
# process: ansible's plugin loader is set up there and nowhere near this test's imports.
BUILD_PAYLOAD = """
import json, sys
from ansible.plugins.loader import init_plugin_loader, module_loader
init_plugin_loader()
from ansible.executor import module_common
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
name, args = sys.argv[1], json.loads(sys.argv[2])
built = module_common.modify_module(
    module_name=name, module_path=module_loader.find_plugin(name, mod_type=".py"), module_args=args,
    templar=Templar(loader=DataLoader()), task_vars={"ansible_python_interpreter": "/usr/bin/python3"})
sys.stdout.buffer.write(built[0] if isinstance(built, tuple) else built.b_module_data)
"""
SENTINEL = "pw-SENTINEL-0d41"


def real_payload(tmp_path, module: str, args: dict) -> bytes:
    env = dict(os.environ, ANSIBLE_LOCAL_TEMP=str(tmp_path / "local"), ANSIBLE_CONFIG=str(tmp_path / "none.cfg"))
    return subprocess.run([sys.executable, "-c", BUILD_PAYLOAD, module, json.dumps(args)], env=env,
                          stdout=subprocess.PIPE, check=True, timeout=120).stdout


@pytest.mark.parametrize("password", [SENTINEL, f"{SENTINEL} it's \"quoted\"\nand ü \\ back"])
def test_the_arguments_of_a_real_payload_are_found_and_only_they_are_cut(tmp_path, password) -> None:
    """A get_url task with its no_log url_password, as the installed ansible-core builds it (>= 2.19 writes
    ``params='...'``, 2.17 and 2.18 ``ANSIBALLZ_PARAMS = '...'``: the matrix runs this on both)."""
    args = {"url": "file:///etc/hostname", "dest": "/tmp/got", "url_password": password}
    payload = real_payload(tmp_path, "ansible.builtin.get_url", args)
    assert SENTINEL.encode() in payload and carries_arguments(payload)
    split = split_arguments(payload)
    assert split is not None
    assert SENTINEL.encode() not in split.scrubbed and ARGS_PLACEHOLDER in split.scrubbed
    assert split.payload() == payload
    params = json.loads(ast.literal_eval(split.arguments.decode()))
    assert params["ANSIBLE_MODULE_ARGS"]["url_password"] == password
    generation = b"\nparams='" if b"\n    _ansiballz_main(\n" in payload else b"\n    ANSIBALLZ_PARAMS = '"
    assert payload[:split.offset + 1].endswith(generation)
    assert module_name(payload) == module_name(split.scrubbed) == "ansible.modules.get_url"


def test_two_runs_of_a_real_task_differ_in_their_arguments_only_after_scrubbing(tmp_path) -> None:
    first = split_arguments(real_payload(tmp_path, "ansible.builtin.ping", {"data": "one"}))
    second = split_arguments(real_payload(tmp_path, "ansible.builtin.ping", {"data": "another, longer"}))
    assert first is not None and second is not None
    delta = make_delta(first.scrubbed, second.scrubbed, max_edits=1024, max_bytes=48 * 1024)
    assert delta is not None and delta.apply(first.scrubbed) == second.scrubbed
    assert b"another" not in delta.middle + b"".join(data for _offset, data in delta.edits)


def older_payload(params: bytes) -> bytes:
    """Shaped like an ansible-core 2.17/2.18 payload (lib/ansible/executor/module_common.py of those lines): the
    zip first, the module run by runpy, the arguments as ``ANSIBALLZ_PARAMS = '...'`` inside the wrapper's main."""
    return (b"#!/usr/bin/python3\n# -*- coding: utf-8 -*-\ndef _ansiballz_main():\n    ZIPDATA = '"
            + base64.b64encode(os.urandom(20_000)) + b"'\n"
            + b"        runpy.run_module(mod_name='ansible.modules.get_url', init_globals=dict(_module_fqn='x'))\n"
            + b"    ANSIBALLZ_PARAMS = " + params + b"\n    if PY3:\n        pass\n")


def test_the_older_shape_of_the_arguments_is_found_too() -> None:
    params = repr(json.dumps({"ANSIBLE_MODULE_ARGS": {"url_password": SENTINEL + "'\n"}})).encode()
    payload = older_payload(params)
    split = split_arguments(payload)
    assert split is not None and split.arguments == params and split.payload() == payload
    assert SENTINEL.encode() not in split.scrubbed
    assert module_name(payload) == "ansible.modules.get_url"


def test_arguments_that_are_not_certain_are_not_split() -> None:
    """Then the executor keeps nothing of the stdin at all (as for a no_log task)."""
    good = repr(json.dumps({"ANSIBLE_MODULE_ARGS": {"a": 1}})).encode()
    assert split_arguments(payload("x", 1, BODY)) is None, "no arguments key at all"
    doubled = older_payload(good) + b"params=" + repr(json.dumps({"b": 2})).encode() + b",\n"
    assert split_arguments(b"#!/x\nparams=" + good + b",\n" + b"\nparams=" + good + b",\n") is None, "two lines"
    assert split_arguments(doubled.replace(b"\nparams=", b"\n\nparams=")) is None, "two shapes"
    assert split_arguments(older_payload(good) + b"# ANSIBLE_MODULE_ARGS\n") is None, "the key elsewhere too"
    other_keys = repr(json.dumps({"ANSIBLE_MODULE_ARGS": {}, "more": 1})).encode()
    assert split_arguments(older_payload(other_keys)) is None, "not the arguments alone"
    assert split_arguments(older_payload(b"'ANSIBLE_MODULE_ARGS: not json'")) is None
    assert split_arguments(older_payload(b"'ANSIBLE_MODULE_ARGS' + x")) is None
    assert split_arguments(b"secret-become-password\n" + older_payload(good)) is None, "not a payload's start"
    assert split_arguments(older_payload(good)) is not None
