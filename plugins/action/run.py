# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""alicloud.ecs.run: one command to a whole fleet in a few API calls, with rate control and batches.

Runs on the controller. Without ``run_once`` every host's task reports its own instance's result, while
the command itself goes out once per batch of hosts: the first host's task to arrive runs it for all
(plugin_utils/fleet_share.py), the others wait for their instance's result. With ``run_once: true`` the
one task runs it for the whole batch and returns every host's result at once; so does the task of a host
that is not among explicit ``instance_ids``/``instance_tags`` targets (localhost, a bastion group), since
it has no instance of its own to report on — the run still goes out once per batch, shared with the other
hosts of the batch as above. The documentation lives in
plugins/modules/run.py; the planning rules in module_utils/services/fleet.py; the API work in
plugin_utils/fleet_run.py and its engines (fleet_runner.py, module_utils/services/oos_fleet.py).
This file only reads the task, asks the operator, and shapes results.
"""

from __future__ import annotations

import json
import typing as t

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.parsing.mod_args import ModuleArgsParser
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core < 2.19: no trust to grant, and an action's facts are never templated
    trust_as_template = None

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient, Settings
from ansible_collections.alicloud.ecs.plugins.module_utils.api.options import settings_from_options
from ansible_collections.alicloud.ecs.plugins.module_utils.services.common_args import api_argument_spec
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.services.fleet import (
    RUN_ARGUMENT_SPEC, RUN_MUTUALLY_EXCLUSIVE, RUN_REQUIRED_ONE_OF,
    PlanError, Target, check_engine, check_pause, compact_summary, host_outcome, parse_amount, plan_batches,
    run_command_groups,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.services.oos_fleet import check_content, groups_of
from ansible_collections.alicloud.ecs.plugins.module_utils.services.instances import describe_instances
from ansible_collections.alicloud.ecs.plugins.plugin_utils import inventory_credentials
from ansible_collections.alicloud.ecs.plugins.plugin_utils.diagnostics import display_log
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_run import FleetRun, make_engine
from ansible_collections.alicloud.ecs.plugins.plugin_utils.fleet_share import (
    Gathering, LeaderGone, SharedRun, digest, run_directory,
)

display = Display()

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {**RUN_ARGUMENT_SPEC, **api_argument_spec()}
FACT = "alicloud_run"
RESULTS_FACT = "alicloud_run_results"
SUMMARY_FACT = "alicloud_run_summary"
# Strategies that run a task on every host of the batch before the next task: there the first host's task
# can run the command for the whole batch. Under the others (free, host_pinned) hosts move on their own,
# so the hosts that reach the task together share a command (fleet_share.Gathering).
LOCKSTEP_STRATEGIES = frozenset({"linear", "ansible.builtin.linear", "ansible.legacy.linear",
                                 "debug", "ansible.builtin.debug", "ansible.legacy.debug"})


class ActionModule(ActionBase):
    """Fan one command out to the play's instances and give every host its own result fact."""

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp: t.Any = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        dummy, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=RUN_MUTUALLY_EXCLUSIVE, required_one_of=RUN_REQUIRED_ONE_OF)
        try:
            check_options(args)
            if self._task.run_once:
                return {**result, **self._whole_batch(args, task_vars)}
            return {**result, **self._own_host(args, task_vars)}
        except (PlanError, ConfigError, CloudError, LeaderGone) as error:
            return {**result, "failed": True, "msg": f"alicloud.ecs.run: {error}"}

    def _whole_batch(self, args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        """run_once: this one task runs the batch and returns every host's result (and the template fact)."""
        plan = self._plan(args, task_vars, list(task_vars.get("ansible_play_batch") or []), strict=True)
        if self._task.check_mode:
            return self._would(plan, args)
        results, summary = self._execute(plan, args)
        return self._report(results, summary, args["fail_when_stopped"])

    # -- one host's task of a batch (no run_once) ---------------------------------------------

    def _own_host(self, args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> dict[str, t.Any]:
        """This host's own result; the command goes out once per batch, from the first host's task."""
        host = task_vars["inventory_hostname"]
        region = self._settings(args, task_vars).region
        own = instance_of(host, task_vars, region)
        explicit = args["instance_ids"] is not None or args["instance_tags"] is not None
        if own is None and not explicit:
            raise PlanError(f"no instance ID for host {host}: set ansible_alicloud_instance_id or instance_id "
                            "(the alicloud.ecs.instances inventory does)")
        if self._task.check_mode:
            if explicit:
                return self._would(self._plan(args, task_vars, [], strict=False), args)
            return {"changed": True, "msg": f"would run {args['command_type']} on instance {own.instance_id} "
                                            f"({own.region}) with the other hosts of the batch"}
        batch = list(task_vars.get("ansible_play_batch") or [])
        key = [str(self._task._uuid), *batch]
        if explicit:
            # The hosts whose options (targets included) come out the same share one run; a host whose own come
            # out differently (a per-bastion instance_ids variable) runs its own, as it asked.
            key.append(self._rendered(self._templated_options(), args, task_vars))
        directory = run_directory() / digest(*key)
        if explicit or (self._lockstep() and self._task.all_parents_static()):
            share = SharedRun(directory, host)
            outcome = self._lead(share, args, task_vars, None, whole=explicit) if share.lead() else share.wait()
        else:
            # Which hosts run this task is not known in advance here: they gather (fleet_share.Gathering).
            gathering = Gathering(directory, host, self._rendered(self._templated_options(), args, task_vars))
            share = gathering.run
            members = gathering.settle(len(batch))  # None: another host's task runs the command for the group
            outcome = share.wait() if members is None else self._lead(share, args, task_vars, members)
        if outcome.get("error"):
            return {"failed": True, "msg": outcome["error"]}
        mine = share.result_of(own.instance_id) if own else None
        if mine is None and explicit:
            return self._whole_run(share, args)
        if mine is None:
            # The leader left this host out (its options differ, or its `when` was judged false, yet its task
            # runs): it runs for this host alone.
            solo = SharedRun(run_directory() / digest(str(self._task._uuid), own.region, own.instance_id), host)
            outcome = self._lead(solo, args, task_vars, [host]) if solo.lead() else solo.wait()
            if outcome.get("error"):
                return {"failed": True, "msg": outcome["error"]}
            mine = solo.result_of(own.instance_id)
        report = host_outcome(mine, outcome["summary"], args["fail_when_stopped"])
        report["ansible_facts"] = {FACT: mine, SUMMARY_FACT: report["summary"]}
        return report

    def _whole_run(self, share: SharedRun, args: dict[str, t.Any]) -> dict[str, t.Any]:
        """The task of a host that is not a target (localhost, a bastion): the whole run's result, as run_once
        returns it (every instance's result, the full summary, the facts; failed when the run stopped)."""
        whole = share.whole()
        if whole is None:  # every leader for explicit targets writes it before its outcome: kept as a clear error
            raise LeaderGone("the task that ran the command for this batch left no result for the whole run")
        return self._report(whole["results"], whole["summary"], args["fail_when_stopped"])

    def _lead(self, share: SharedRun, args: dict[str, t.Any], task_vars: dict[str, t.Any],
              hosts: list[str] | None, whole: bool = False) -> dict[str, t.Any]:
        """Run the command for ``hosts`` (None: the batch's hosts whose `when` holds) and share the results;
        ``whole``: share the whole run too, for the hosts that are not among the explicit targets."""
        published = False
        try:
            active = self._active_hosts(args, task_vars) if hosts is None else hosts
            plan = self._plan(args, task_vars, active, strict=False)
            results, summary = self._execute(plan, args)
            outcome = {"summary": compact_summary(summary)}
            if summary["skipped"]:
                display.warning(f"alicloud.ecs.run stopped: {summary['stopped']}")
            share.publish({item["instance_id"]: item for item in results.values()}, outcome,
                          {"results": results, "summary": summary} if whole else None)
            published = True
        except (PlanError, ConfigError, CloudError) as error:
            outcome = {"error": f"alicloud.ecs.run: {error}"}
            share.publish({}, outcome)
            published = True
        finally:
            if not published:
                share.publish({}, {"error": "alicloud.ecs.run: the task that ran the command for this batch failed "
                                            "(see its host's result); the command is not sent again"})
        return outcome

    def _lockstep(self) -> bool:
        play = self._task.get_play()
        return (getattr(play, "strategy", None) or C.DEFAULT_STRATEGY) in LOCKSTEP_STRATEGIES

    def _active_hosts(self, args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> list[str]:
        """The batch's hosts this task runs the command for: those whose `when` holds and whose options come out
        as this host's, each judged with its own variables as ansible will judge it.

        ansible evaluates `when` and renders a task's options in each host's own worker; the leader cannot wait
        for the hosts that have not started (forks smaller than the batch), so it evaluates them itself, with
        the variable manager ansible gives the workers. A host left out (its options differ, or it was judged
        wrongly to be skipped) is not lost: its own task finds no result and runs the command for itself.
        """
        batch = list(task_vars.get("ansible_play_batch") or [])
        raw = self._templated_options()
        if not self._task.when and raw is None and args["script"] is None:
            return batch
        me = task_vars["inventory_hostname"]
        mine = self._rendered(raw, args, task_vars)
        hostvars = task_vars["hostvars"]
        manager, inventory = hostvars._variable_manager, hostvars._inventory  # pylint: disable=protected-access
        play = self._task.get_play()
        loop_var = task_vars.get("ansible_loop_var")
        active = []
        for name in batch:
            if name == me:
                active.append(name)
                continue
            variables = manager.get_vars(play=play, host=inventory.get_host(name), task=self._task, _hosts=batch,
                                         _hosts_all=list(task_vars.get("ansible_play_hosts_all") or batch))
            if loop_var and loop_var in task_vars:
                variables[loop_var] = task_vars[loop_var]
            try:
                holds = self._when_holds(variables) and self._rendered(raw, args, variables) == mine
            except (AnsibleError, PlanError):
                holds = False  # the host's own task meets the same error before it gets here
            if holds:
                active.append(name)
        return active

    def _when_holds(self, variables: dict[str, t.Any]) -> bool:
        """The task's `when` (its blocks' and role's included) with another host's variables."""
        resolve = getattr(self._task, "_resolve_conditional_with_item", None)  # ansible-core 2.19+
        if resolve is not None:
            return bool(resolve(self._task.when, variables)[0])
        templar = self._templar.copy_with_new_env(available_variables=variables)
        return bool(self._task.evaluate_conditional(templar, variables))

    def _templated_options(self) -> dict[str, t.Any] | None:
        """The task's options as written, when a template in them may render differently per host; else None."""
        data = self._task.get_ds()
        if not isinstance(data, dict):
            return None
        raw = ModuleArgsParser(data, collection_list=self._task.collections).parse(skip_action_validation=True)[1]
        text = json.dumps(raw, default=str)
        return raw if "{{" in text or "{%" in text else None

    def _rendered(self, raw: dict[str, t.Any] | None, args: dict[str, t.Any], variables: dict[str, t.Any]) -> str:
        """A digest of what the options and the script come out as with ``variables``."""
        templar = self._templar.copy_with_new_env(available_variables=variables)
        options = templar.template(raw) if raw is not None else None
        script = self._content(args, variables) if args["script"] is not None else None
        return digest(json.dumps([options, script], sort_keys=True, default=str))

    # -- planning (no API call except listing instances by tag) -------------------------------

    @staticmethod
    def _settings(args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> Settings:
        return settings_from_options(
            args.get, inherited=inventory_credentials.lookup(task_vars.get(inventory_credentials.HOSTVAR)))

    def _plan(self, args: dict[str, t.Any], task_vars: dict[str, t.Any], hosts: list[str],
              strict: bool) -> dict[str, t.Any]:
        settings = self._settings(args, task_vars)
        content = self._content(args, task_vars)
        if args["engine"] == "oos":
            for option, text in (("content" if args["script"] is None else "script", content),
                                 ("health_check", args["health_check"] or ""), ("rollback", args["rollback"] or "")):
                try:
                    check_content(text, option)
                except ValueError as error:
                    raise PlanError(str(error)) from None
        client = CloudClient(settings, log=display_log(display))
        targets = self._targets(args, hosts, task_vars["hostvars"], client, strict)
        total = len(targets)
        sizes = plan_batches(total, args["batch"], args["batch_size"])
        return {
            "client": client, "content": content, "targets": targets, "sizes": sizes,
            "concurrency": parse_amount(args["concurrency"], total, "concurrency", minimum=1),
            "max_errors": parse_amount(args["max_errors"], total, "max_errors"),
        }

    def _content(self, args: dict[str, t.Any], task_vars: dict[str, t.Any]) -> str:
        """The inline content, or the controller script rendered with the play's variables."""
        if args["content"] is not None:
            return args["content"]
        try:
            path = self._find_needle("files", args["script"])
        except AnsibleError as error:
            raise PlanError(f"script: {error.message}") from None
        with open(path, encoding="utf-8") as handle:
            source = handle.read()
        templar = self._templar.copy_with_new_env(available_variables=task_vars)
        return to_text(templar.template(trust_as_template(source) if trust_as_template else source))

    def _targets(self, args: dict[str, t.Any], play_hosts: list[str], hostvars: t.Mapping[str, t.Any],
                 client: CloudClient, strict: bool) -> list[Target]:
        """The instances to run on; ``strict``: a host without an instance ID fails the task (run_once), else
        it is left out (its own task fails, naming it)."""
        hosts: dict[str, Target] = {}
        missing = []
        for host in play_hosts:
            found = instance_of(host, hostvars[host], client.region)
            if found:
                # Two inventory names for one instance (allow_duplicated_hosts): the instance runs once.
                hosts.setdefault(found.instance_id, found)
            else:
                missing.append(host)
        if args["instance_ids"] is not None:
            return [hosts.get(iid) or Target(iid, iid, client.region) for iid in dict.fromkeys(args["instance_ids"])]
        if args["instance_tags"] is not None:
            listed = describe_instances(client, Status="Running", Tag=[
                {"Key": key, "Value": str(value)} for key, value in args["instance_tags"].items()])
            if not listed:
                raise PlanError(f"instance_tags {args['instance_tags']} match no running instance in {client.region}")
            return [hosts.get(item["InstanceId"]) or Target(item["InstanceId"], item["InstanceId"], client.region)
                    for item in listed]
        if missing and strict:
            named = ", ".join(missing[:10])
            raise PlanError(f"no instance ID for host(s) {named}: "
                            "set ansible_alicloud_instance_id or instance_id (the alicloud.ecs.instances inventory does)")
        if not hosts and strict:
            raise PlanError("no targets: the play has no hosts; give instance_ids or instance_tags")
        return list(hosts.values())

    def _would(self, plan: dict[str, t.Any], args: dict[str, t.Any]) -> dict[str, t.Any]:
        targets, sizes = plan["targets"], plan["sizes"]
        if args["engine"] == "oos":
            calls = f"at least {len(groups_of(targets))} OOS execution(s)"
        else:
            calls = f"at least {len(run_command_groups(targets))} RunCommand call(s)"
        msg = (f"would run {args['command_type']} on {len(targets)} instance(s) in {len(sizes)} batch(es) "
               f"{sizes}, {plan['concurrency']} at a time, stopping once more than {plan['max_errors']} fail; "
               f"{calls}")
        return {"changed": True, "msg": msg, "targets": [target.host for target in targets], "batches": sizes,
                "concurrency": plan["concurrency"], "max_errors": plan["max_errors"]}

    # -- running ------------------------------------------------------------------------------

    def _execute(self, plan: dict[str, t.Any], args: dict[str, t.Any]) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
        """The run itself (batches, health checks, rollback) is a FleetRun over the engine the task asked for."""
        client: CloudClient = plan["client"]
        clients: dict[str, CloudClient] = {}

        def client_for(region: str) -> CloudClient:
            return clients.setdefault(region, client.for_region(region))

        engine = make_engine(args, client_for, self._run_seed(plan, args))
        return FleetRun(engine, args, plan).execute()

    def _run_seed(self, plan: dict[str, t.Any], args: dict[str, t.Any]) -> str:
        """What the same task computes again in a later ansible run (the OOS engine's ClientTokens): the play, the
        task's place and name, what it runs and ``oos_run_label``; never a per-run id."""
        play = self._task.get_play()
        return digest(getattr(play, "name", "") or "", self._task.get_path() or "", self._task.get_name() or "",
                      plan["content"], args["health_check"] or "", args["rollback"] or "", args["oos_run_label"] or "")

    def _report(self, results: dict[str, dict[str, t.Any]], summary: dict[str, t.Any], fail: bool) -> dict[str, t.Any]:
        # Every host of a run_once task receives the same ansible_facts; ``alicloud_run`` is a template
        # that each host resolves against its own name, so each one reads its own entry (no extra call).
        # ansible-core applies the facts of successful results only (2.21 strategy): a failed task
        # leaves them unset, which is why ``fail_when_stopped: false`` exists.
        # Before 2.19 ansible-core marks every fact an action returns as unsafe, so the template would stay
        # text: there ``alicloud_run`` is not set and hosts read ``alicloud_run_results[inventory_hostname]``.
        facts = {RESULTS_FACT: results, SUMMARY_FACT: summary}
        if trust_as_template:
            facts[FACT] = trust_as_template("{{ ansible_facts['" + RESULTS_FACT + "'][inventory_hostname] | default(None) }}")
        report = {"changed": bool(summary["invoke_ids"]), "ansible_facts": facts, "summary": summary,
                  "results": results}
        if summary["stopped"]:
            report.update(failed=fail, msg=f"alicloud.ecs.run stopped: {summary['stopped']}. "
                                           f"Failed hosts: {', '.join(summary['failed']) or 'none'}")
        elif summary.get("pending"):
            report["msg"] = (f"started OOS execution(s) {', '.join(summary['invoke_ids'])} on "
                             f"{len(summary['pending'])} host(s) (wait: false); run the same task again to collect "
                             "the results")
        elif summary["failed"]:
            report["msg"] = (f"{len(summary['failed'])} host(s) failed within max_errors: "
                             f"{', '.join(summary['failed'])}")
        else:
            report["msg"] = f"succeeded on {len(summary['succeeded'])} host(s)"
        return report


def check_options(args: t.Mapping[str, t.Any]) -> None:
    """Checks that need no targets, made by every host's task before anything is shared or sent."""
    if args["timeout"] < 10:
        raise PlanError(f"timeout must be at least 10 seconds, got {args['timeout']}")
    check_pause(args["pause"])
    check_engine(args)
    if args["content"] is not None and not args["content"].strip():
        raise PlanError("content must not be empty")
    for option in ("health_check", "rollback"):
        if args[option] is not None and not args[option].strip():
            raise PlanError(f"{option} must not be empty when given")
    if args["instance_ids"] is not None and not args["instance_ids"]:
        raise PlanError("instance_ids must not be empty when given")
    if args["instance_tags"] is not None and not 1 <= len(args["instance_tags"]) <= 20:
        raise PlanError("instance_tags must hold between 1 and 20 tags")
    for option in ("concurrency", "max_errors"):
        parse_amount(args[option], 100, option)
    plan_batches(1, args["batch"], args["batch_size"])


def instance_of(host: str, hostvars: t.Mapping[str, t.Any], default_region: str) -> Target | None:
    """The instance a play host stands for: the connection's variables first, then the inventory's."""
    instance_id = hostvars.get("ansible_alicloud_instance_id") or hostvars.get("instance_id")
    if not instance_id and host.startswith("i-"):
        instance_id = host
    if not instance_id:
        return None
    region = hostvars.get("ansible_alicloud_region") or hostvars.get("region_id") or default_region
    return Target(host, str(instance_id), str(region))
