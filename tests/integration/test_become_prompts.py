"""A become command that asks something other than its expected prompt fails at once, quoting what it asked.

Without a terminal the envelope answers only the become plugin's own prompt. PAM asking for the current password
of an expired one (sudo shows it in its own words, not as ``-p`` says) or for a second factor ("Verification
code:") asks something else, which nothing answers: the run used to wait out the whole command timeout. Each case here runs under a 90 s command timeout, so the
outcome tells the two apart: the stopped command's error names the question, an unrecognised one would end in
ExecutionTimeout instead.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

PASSWORD = "prompt-SENTINEL-pw-7d2"
# Stand-ins for PAM's second factor, installed on the instance: one asks for a code before the password, one
# gives the expected prompt (taken from sudo's -p), reads the password, then asks for a code.
CODE_FIRST = "#!/bin/sh\nprintf 'Verification code: ' >&2\nread -r code || exit 1\nexec sudo \"$@\"\n"
CODE_AFTER = """#!/bin/sh
prompt=''
for arg; do [ "$next" = 1 ] && prompt=$arg; next=0; [ "$arg" = -p ] && next=1; done
printf '%s' "$prompt" >&2
read -r password || exit 1
printf 'Verification code: ' >&2
read -r code || exit 1
exit 1
"""
SETUP = [{"name": "users whose become asks something else", "hosts": "all[0]", "gather_facts": False, "tasks": [
    {"name": "users", "ansible.builtin.user": {
        "name": "{{ item }}", "password": f"{{{{ '{PASSWORD}' | password_hash('sha512', 'fixedsalt') }}}}",
        "shell": "/bin/sh"}, "loop": ["prompted", "coded"]},
    {"name": "prompted's password has expired: PAM asks for it again, to change it", "ansible.builtin.command":
        "chage -d 0 prompted", "changed_when": False},
    {"name": "sudo rules", "ansible.builtin.copy": {
        "dest": "/etc/sudoers.d/become-prompts", "mode": "0440", "validate": "/usr/sbin/visudo -cf %s",
        "content": "prompted ALL=(ALL) ALL\ncoded ALL=(ALL) ALL\n"}},
    {"name": "second factors",
     "ansible.builtin.copy": {"dest": "/usr/local/bin/{{ item.name }}", "mode": "0755", "content": "{{ item.content }}"},
     "loop": [{"name": "sudo-code-first", "content": CODE_FIRST}, {"name": "sudo-code-after", "content": CODE_AFTER}],
     "loop_control": {"label": "{{ item.name }}"}},
]}]


def become_play(user: str, exe: str | None) -> list[dict]:
    variables = {"ansible_become_password": PASSWORD, "ansible_alicloud_command_timeout": 90}
    if exe:
        variables["ansible_become_exe"] = exe
    return [{"name": "become", "hosts": "all[0]", "gather_facts": False, "remote_user": user, "become": True,
             "vars": variables, "tasks": [{"name": "escalate", "ansible.builtin.command": "id -un",
                                           "changed_when": False}]}]


@pytest.mark.parametrize("case, user, exe, asked", [
    ("an expired password", "prompted", None, "password"),  # sudo 1.9.13: "[sudo] password for %p:"
    ("a code before the password", "coded", "/usr/local/bin/sudo-code-first", "Verification code:"),
    ("a code after the password", "coded", "/usr/local/bin/sudo-code-after", "Verification code:"),
])
def test_an_unexpected_become_question_fails_fast_naming_it(ansible, tmp_path: Path, case, user, exe, asked) -> None:
    setup = tmp_path / "setup.yml"
    setup.write_text(json.dumps(SETUP))
    prepared = ansible.playbook(setup)
    assert prepared.rc == 0, prepared.output
    playbook = tmp_path / "become.yml"
    playbook.write_text(json.dumps(become_play(user, exe)))
    run = ansible.playbook(playbook)
    assert run.rc != 0, (case, run.output)
    text = " ".join(run.output.split())
    said = re.search(r"sudo asked '([^']*)' instead of its expected prompt '\[sudo via ansible, key=", text)
    assert said and asked in said.group(1) and "via ansible" not in said.group(1), run.output
    assert "ExecutionTimeout" not in run.output
    assert PASSWORD not in run.output


def test_the_expected_prompt_is_still_answered(ansible, tmp_path: Path) -> None:
    """The same users and password with the plain sudo of a user without an override: escalation works."""
    setup = tmp_path / "setup.yml"
    setup.write_text(json.dumps(SETUP))
    assert ansible.playbook(setup).rc == 0
    playbook = tmp_path / "become.yml"
    play = become_play("coded", None)
    play[0]["tasks"] = [{"name": "escalate", "ansible.builtin.command": "id -un", "register": "who",
                         "changed_when": False},
                        {"name": "root", "ansible.builtin.assert": {"that": ["who.stdout == 'root'"]}}]
    playbook.write_text(json.dumps(play))
    run = ansible.playbook(playbook)
    assert run.rc == 0, run.output
    assert PASSWORD not in run.output
