"""Module tests: every result a module returns in these tests is checked against its RETURN documentation."""

from __future__ import annotations

import pytest

from return_docs import assert_documented

PREFIX = "alicloud.ecs."


@pytest.fixture
def ansible(ansible):
    """The integration ``ansible`` whose ``play`` also fails the test when a module returned a key its RETURN
    does not describe (failed results may carry ``error``, CloudModule's API error as data)."""
    play = ansible.play

    def checked_play(tasks, *args, **kwargs):
        played = play(tasks, *args, **kwargs)
        modules = {task.get("name"): key[len(PREFIX):] for task in tasks for key in task if key.startswith(PREFIX)}
        for entry in played.entries:
            module = modules.get(entry["task"])
            if module is None or "module_stderr" in entry["result"]:
                continue
            result = dict(entry["result"])
            if entry["outcome"] == "failed":
                result.pop("error", None)
            assert_documented(module, result)
        return played

    ansible.play = checked_play
    return ansible
