"""plugin_utils/api_data.py: API strings are data on every ansible-core line the collection supports.

These run on each line of scripts/test-matrix: before 2.19 the strings must come out as
``AnsibleUnsafeText`` (what ansible-core 2.17's templar passes through, ansible/utils/unsafe_proxy.py),
from 2.19 on they must not be trusted as templates (ansible/template/__init__.py ``is_trusted_as_template``).
Either way, rendering a template that reads them gives them back verbatim and runs nothing.
"""

from __future__ import annotations

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.alicloud.ecs.plugins.plugin_utils.api_data import as_data, holds_template

try:
    from ansible.template import is_trusted_as_template, trust_as_template
except ImportError:  # ansible-core < 2.19
    is_trusted_as_template = trust_as_template = None


def operator_template(text: str) -> str:
    """A template the operator wrote (a playbook's): trusted, as ansible-core 2.19+ trusts playbook text."""
    return trust_as_template(text) if trust_as_template else text


def render(template: str, variables: dict) -> str:
    return Templar(loader=DataLoader(), variables=variables).template(operator_template(template))


def strings_in(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)
    elif isinstance(value, str):
        yield value


def test_every_string_of_a_nested_value_is_data(tmp_path) -> None:
    marker = tmp_path / "ran"
    lookup = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    value = as_data({"instance_tags": {"owner": lookup, "answer": "{{ 7*6 }}"}, "names": [lookup, "plain"],
                     "count": 3, "online": True})
    for text in strings_in(value):
        if is_trusted_as_template is None:
            from ansible.utils.unsafe_proxy import AnsibleUnsafe
            assert isinstance(text, AnsibleUnsafe), text
        else:
            assert not is_trusted_as_template(text), text
    assert value["count"] == 3 and value["online"] is True
    rendered = render("{{ instance_tags.owner }}|{{ instance_tags.answer }}|{{ names | join(',') }}", value)
    assert rendered == f"{lookup}|{{{{ 7*6 }}}}|{lookup},plain"
    assert not marker.exists()


def test_unmarked_api_strings_render_only_before_ansible_core_2_19(tmp_path) -> None:
    """Why the marking exists: the same data unmarked runs its lookup on the older lines; from 2.19 on
    ansible-core itself leaves an untrusted string alone (so as_data may pass it unchanged there)."""
    marker = tmp_path / "ran"
    lookup = "{{ lookup('pipe', 'touch " + str(marker) + "') }}"
    rendered = render("{{ owner }}", {"owner": lookup})
    if trust_as_template is None:
        assert marker.exists() and rendered == ""
    else:
        assert not marker.exists() and rendered == lookup


@pytest.mark.parametrize("text, expected", [
    ("{{ 7*6 }}", True), ("a{% if x %}b{% endif %}", True), ("{# note #}", True), ("x{{y", True),
    ("web-1", False), ("{ not jinja }", False), ("a}}b", False), ("", False), ("{", False),
])
def test_template_syntax_is_recognised(text, expected) -> None:
    assert holds_template(text) is expected
