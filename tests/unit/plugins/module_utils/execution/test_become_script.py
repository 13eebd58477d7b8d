"""The become envelope run by the local shell against stand-ins for sudo: it answers only the expected prompt,
and stops a command that asks something else instead of leaving it to wait for the command's timeout."""

from __future__ import annotations

import subprocess

import pytest

from ansible_collections.alicloud.ecs.plugins.module_utils.execution.become_script import BECOME_UNANSWERED, BecomeAnswer, unanswered_prompt
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.frame import Frame, decode_frame, parse_trailer
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.shell_scripts import build_run_script

PROMPT = "[sudo via ansible, key=abc] password:"
SUCCESS = "BECOME-SUCCESS-abc"
PASSWORD = "pw-SENTINEL-9"


def run(command: str, timeout: float = 120) -> Frame:
    """The envelope for ``command`` (a stand-in for the become command line), run here; its decoded frame.
    ``timeout`` only bounds a broken envelope: the outcome, not the time, is what the tests check."""
    script = build_run_script(command.encode(), None, BecomeAnswer(PASSWORD.encode(), PROMPT, SUCCESS))
    done = subprocess.run(["/bin/sh", "-c", script], capture_output=True, timeout=timeout, check=False)
    trailer = parse_trailer(done.stdout)
    return decode_frame(trailer.frame_tail, trailer.sha256, compressed=trailer.compressed)


@pytest.mark.parametrize("case, command, asked", [
    ("a code first", "printf 'Verification code: ' >&2; read -r code; echo ran", "Verification code:"),
    ("a code after the password", f"printf '{PROMPT}' >&2; read -r pw; printf 'Verification code: ' >&2; "
                                  "read -r code; echo ran", "Verification code:"),
    ("an expired password", f"printf '{PROMPT}' >&2; read -r pw; printf 'sudo: Account or password is expired\\n"
                            "[sudo] password for %%p: ' >&2; read -r again; echo ran", "[sudo] password for %p:"),
])
def test_another_question_stops_the_command_and_names_the_question(case, command, asked) -> None:
    frame = run(command)
    assert BECOME_UNANSWERED.encode() in frame.stderr, case
    assert unanswered_prompt(frame.stderr, PROMPT) == asked
    assert b"ran" not in frame.stdout and frame.rc != 0
    assert PASSWORD.encode() not in frame.stdout + frame.stderr


def test_the_expected_prompt_is_answered_even_after_a_pause() -> None:
    """A line that ends in a newline is no question, however long the prompt takes after it."""
    frame = run(f"echo 'sudo: unable to resolve host web-1' >&2; sleep 3; printf '{PROMPT}' >&2; read -r pw; "
                f"[ \"$pw\" = {PASSWORD} ] && echo {SUCCESS} && echo ran as root")
    assert frame.rc == 0 and frame.stdout == f"{SUCCESS}\nran as root\n".encode()
    assert unanswered_prompt(frame.stderr, PROMPT) is None


def test_a_slow_refusal_of_a_wrong_password_is_not_taken_for_another_question() -> None:
    """PAM's delay after a wrong password leaves stderr ending in the answered prompt: that is no new question."""
    frame = run(f"printf '{PROMPT}' >&2; read -r pw; sleep 3; printf 'Sorry, try again.\\n{PROMPT}' >&2; "
                "read -r again || { echo 'sudo: no password was provided' >&2; exit 1; }")
    assert unanswered_prompt(frame.stderr, PROMPT) is None
    assert b"Sorry, try again." in frame.stderr and b"no password was provided" in frame.stderr and frame.rc == 1
