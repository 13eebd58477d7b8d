"""The one settings builder: every plugin type and every module reads the same option names into the same Settings.

The connection hands it ``get_option``, the inventory ``get_option`` without a region, the action its checked
arguments' ``get`` and the modules ``params.get``: a name the builder reads that one of them does not declare, an
environment variable a plugin reads that modules do not (or the reverse), or a plugin default that differs from the
builder's own would make one caller behave differently from the others, so each is checked here.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
import yaml

from ansible_collections.alicloud.ecs.plugins.doc_fragments.api import ModuleDocFragment
from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import Settings
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.api.options import (
    CREDENTIAL_OPTIONS, REGION_OPTION, option_names, settings_from_options,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.auth.credentials import (
    Credential, CredentialProvider, StaticSource,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.common_args import api_argument_spec

PLUGINS = Path(__file__).resolve().parents[5] / "plugins"
ENV = {"ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true", "ALIBABA_CLOUD_CONFIG_FILE": "/nonexistent",
       "ALIBABA_CLOUD_CREDENTIALS_FILE": "/nonexistent"}
VALUES = {"access_key": "LTAIopt", "secret_key": "opt-secret", "region": "cn-shanghai",
          "endpoint": "http://127.0.0.1:9", "retry_budget": 7.5, "connect_timeout": 3, "read_timeout": 30,
          "api_concurrency": 4}


def section(name: str) -> dict[str, t.Any]:
    return yaml.safe_load(getattr(ModuleDocFragment, name))


def documented_options(path: Path) -> dict[str, dict[str, t.Any]]:
    """A plugin's or module's options with the alicloud.ecs.api sections it extends merged in, as ansible does."""
    source = path.read_text(encoding="utf-8")
    text = source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    doc = yaml.safe_load(text)
    options: dict[str, dict[str, t.Any]] = {}
    for fragment in doc.get("extends_documentation_fragment", []):
        if fragment == "alicloud.ecs.api" or fragment.startswith("alicloud.ecs.api."):
            attribute = "DOCUMENTATION" if fragment == "alicloud.ecs.api" else fragment.rsplit(".", 1)[1].upper()
            for name, keys in section(attribute).get("options", {}).items():
                options.setdefault(name, {}).update(keys)
    for name, keys in (doc.get("options") or {}).items():
        options.setdefault(name, {}).update(keys)
    return options


def reader(values: t.Mapping[str, t.Any]) -> t.Callable[[str], t.Any]:
    """A plugin's get_option: an undeclared name is an error (ansible raises KeyError too), None when unset."""
    declared = set(option_names()) | set(values)

    def get(name: str) -> t.Any:
        if name not in declared:
            raise KeyError(name)
        return values.get(name)
    return get


def summary(settings: Settings) -> tuple[t.Any, ...]:
    current = settings.credentials.current()
    return (current.access_key_id, current.access_key_secret, settings.region, settings.endpoint,
            settings.connect_timeout, settings.read_timeout, settings.retry_budget, settings.api_concurrency)


@pytest.mark.parametrize("path, regional", [
    ("connection/cloud_assistant.py", True),
    ("inventory/instances.py", False),
    *((f"modules/{path.name}", True) for path in sorted((PLUGINS / "modules").glob("*.py"))),
])
def test_every_caller_documents_every_option_the_builder_reads(path, regional) -> None:
    options = documented_options(PLUGINS / path)
    assert set(option_names(regional)) <= set(options), sorted(set(option_names(regional)) - set(options))
    if not regional:
        assert REGION_OPTION not in options  # the inventory lists regions itself: it must not look for one


def test_modules_and_the_action_declare_every_option_the_builder_reads() -> None:
    assert set(option_names()) <= set(api_argument_spec())


def test_plugins_read_the_environment_variables_modules_fall_back_to() -> None:
    plugin_env = {name: [entry["name"] for entry in keys["env"]]
                  for name, keys in section("PLUGINS")["options"].items()}
    spec = api_argument_spec()
    module_env = {name: list(spec[name]["fallback"][1]) for name in spec if "fallback" in spec[name]}
    module_env.pop(REGION_OPTION)  # plugins that need one name their own region option and its variables
    assert plugin_env == module_env


def test_plugin_defaults_are_the_builder_defaults() -> None:
    documented = {name: keys["default"] for name, keys in section("PLUGINS")["options"].items() if "default" in keys}
    unset = settings_from_options(reader({"access_key": "id", "secret_key": "secret", "region": "r"}), env={})
    assert documented == {name: getattr(unset, name) for name in documented}


def test_each_caller_reader_gives_the_same_settings() -> None:
    """get_option (connection), params.get (modules) and the action's arguments hold the values under one name."""
    params = {name: VALUES.get(name) for name in api_argument_spec()}
    from_plugin = settings_from_options(reader(VALUES), env=ENV)
    from_module = settings_from_options(params.get, env=ENV)
    assert summary(from_plugin) == summary(from_module) == (
        "LTAIopt", "opt-secret", "cn-shanghai", "http://127.0.0.1:9", 3, 30, 7.5, 4)


def test_the_inventory_reads_no_region_and_needs_none() -> None:
    values = {name: value for name, value in VALUES.items() if name != REGION_OPTION}

    def get(name: str) -> t.Any:
        if name == REGION_OPTION:
            raise KeyError(name)  # the inventory declares no such option
        return values.get(name)
    settings = settings_from_options(get, regional=False, env=ENV)
    assert settings.region == "" and settings.endpoint == "http://127.0.0.1:9"


def inventory_source() -> CredentialProvider:
    return CredentialProvider(StaticSource(Credential("LTAIinventory", "inventory-secret"), "the inventory source"))


@pytest.mark.parametrize("from_environment, expected", [(True, "LTAIinventory"), (False, "LTAIopt")])
def test_an_inventory_source_beats_environment_credentials_not_host_variables(from_environment, expected) -> None:
    credential_names = {option for option, _keyword in CREDENTIAL_OPTIONS}
    settings = settings_from_options(
        reader(VALUES), inherited=inventory_source(), env=ENV,
        from_environment=lambda name: from_environment and name in credential_names)
    assert settings.access_key_id == expected
    assert settings.region == "cn-shanghai"  # only credentials yield to the source


def test_without_an_origin_the_given_keys_win_over_an_inventory_source() -> None:
    """The action has no option origins: keys written in the task (or its module_defaults) win."""
    assert settings_from_options(reader(VALUES), inherited=inventory_source(), env=ENV).access_key_id == "LTAIopt"


@pytest.mark.parametrize("option, value", [("connect_timeout", 0), ("read_timeout", 0), ("retry_budget", -1),
                                           ("api_concurrency", -1), ("endpoint", "ftp://host")])
def test_a_bad_value_names_its_option(option, value) -> None:
    with pytest.raises(ConfigError, match=option):
        settings_from_options(reader({**VALUES, option: value}), env=ENV)
