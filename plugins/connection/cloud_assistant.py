# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cloud_assistant
short_description: Run tasks on Alibaba Cloud ECS instances through Cloud Assistant
description:
  - Runs every task on an ECS instance through the Cloud Assistant API (RunCommand and SendFile)
    instead of SSH. No inbound port and no keys; each call is authorised by RAM and recorded by the cloud.
  - Standard output, standard error and the exit code come back separately and byte-exact, however
    large the output; module payloads and files larger than one API call are sent as verified chunks.
  - Pipelining is on by default, so a module task usually costs one RunCommand and one result poll.
  - Creating a task's remote temporary directory, writing a small file into it and making its files
    readable by their owner run in front of the task's next command instead of costing a round trip each
    (a small copy or template is three commands); a failure of such a step fails the task with the step's
    own output, one command later.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
version_added: 0.1.0
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.plugins
options:
  access_key:
    vars:
      - name: ansible_alicloud_access_key
  secret_key:
    vars:
      - name: ansible_alicloud_secret_key
  security_token:
    vars:
      - name: ansible_alicloud_security_token
  profile:
    vars:
      - name: ansible_alicloud_profile
  profile_file:
    vars:
      - name: ansible_alicloud_profile_file
  assume_role_arn:
    vars:
      - name: ansible_alicloud_assume_role_arn
  assume_role_session_name:
    vars:
      - name: ansible_alicloud_assume_role_session_name
  assume_role_duration:
    vars:
      - name: ansible_alicloud_assume_role_duration
  assume_role_external_id:
    vars:
      - name: ansible_alicloud_assume_role_external_id
  assume_role_policy:
    vars:
      - name: ansible_alicloud_assume_role_policy
  sts_endpoint:
    vars:
      - name: ansible_alicloud_sts_endpoint
  sts_region:
    vars:
      - name: ansible_alicloud_sts_region
  vpc_endpoint:
    vars:
      - name: ansible_alicloud_vpc_endpoint
  credential_source:
    description:
      - Name of the inventory source whose credentials this host uses, set by the M(alicloud.ecs.instances)
        inventory (its file's path). Credential variables of the host itself still win; environment variables do not.
    type: str
    vars:
      - name: ansible_alicloud_credential_source
  endpoint:
    vars:
      - name: ansible_alicloud_endpoint
  retry_budget:
    vars:
      - name: ansible_alicloud_retry_budget
  connect_timeout:
    vars:
      - name: ansible_alicloud_connect_timeout
  read_timeout:
    vars:
      - name: ansible_alicloud_read_timeout
  api_concurrency:
    vars:
      - name: ansible_alicloud_api_concurrency
  instance_id:
    description:
      - ID of the ECS instance to run on, for example C(i-bp1hsglsw6t0lrzjhgxa).
      - The M(alicloud.ecs.instances) inventory sets it for every host.
      - When unset, the host address is used if it looks like an instance ID.
    type: str
    vars:
      - name: ansible_alicloud_instance_id
  region:
    description:
      - Region of the instance, for example C(cn-hangzhou).
    type: str
    env:
      - name: ALIBABA_CLOUD_REGION_ID
      - name: ALICLOUD_REGION
    vars:
      - name: ansible_alicloud_region
  remote_user:
    description:
      - User the commands run as on the instance (the RunCommand C(Username)).
      - When unset, Cloud Assistant runs as C(root).
    type: str
    vars:
      - name: ansible_user
      - name: ansible_alicloud_user
    env:
      - name: ANSIBLE_REMOTE_USER
    ini:
      - section: defaults
        key: remote_user
    keyword:
      - name: remote_user
  pipelining:
    description:
      - Send module payloads on the command's standard input instead of as a file first.
      - On by default, since each file transfer would cost extra API calls.
    type: boolean
    default: true
    env:
      - name: ANSIBLE_PIPELINING
    ini:
      - section: defaults
        key: pipelining
    vars:
      - name: ansible_pipelining
      - name: ansible_alicloud_pipelining
  transport:
    description:
      - How commands reach the instance.
      - V(run_command) (the default) sends every command as a Cloud Assistant invocation (C(RunCommand), then
        C(DescribeInvocationResults) until it ends), so each command costs API calls and the cloud's delivery to
        the agent, and is recorded as an invocation.
      - V(session) (experimental) keeps one Session Manager session per host (C(StartTerminalSession) once,
        then a websocket to the agent) across the tasks and worker processes of the run and sends commands,
        their standard input, become without a password, and files over it, one round trip per command and no
        API call. Commands that must answer a become password prompt, and files larger than the size measured
        in the collection's bench, still go over RunCommand. Commands run as O(remote_user) (the session's user),
        or as root through the agent's own C(ecs-assist-user) and its passwordless sudo, never through an
        invocation, so they are not in C(DescribeInvocations); see docs/connection.md for the audit trail.
      - When the session cannot start (Session Manager off for the account, the websocket endpoint not
        reachable, an agent without it) the host's tasks use RunCommand for the rest of the run, with one
        warning per host. A session lost while a command runs makes the host UNREACHABLE; the command is not
        sent again.
      - Needs C(ecs:StartTerminalSession) and C(ecs:EndTerminalSession) as well (docs/permissions.md).
        Windows instances always use V(run_command).
    type: str
    choices: [run_command, session]
    default: run_command
    env:
      - name: ANSIBLE_ALICLOUD_TRANSPORT
    ini:
      - section: alicloud_ecs
        key: transport
    vars:
      - name: ansible_alicloud_transport
  command_timeout:
    description:
      - Seconds a command may run on the instance (the RunCommand C(Timeout), at least 10).
      - The controller waits this long plus O(wait_margin); then it stops the invocation and fails,
        naming the invocation ID.
    type: int
    default: 600
    env:
      - name: ANSIBLE_ALICLOUD_COMMAND_TIMEOUT
    vars:
      - name: ansible_alicloud_command_timeout
  wait_margin:
    description:
      - Extra seconds the controller waits beyond O(command_timeout) for delivery and reporting.
    type: float
    default: 30
    vars:
      - name: ansible_alicloud_wait_margin
  poll_first_delay:
    description:
      - Seconds before the first look at a command's result; later looks back off geometrically.
    type: float
    default: 0.1
    env:
      - name: ANSIBLE_ALICLOUD_POLL_FIRST_DELAY
    vars:
      - name: ansible_alicloud_poll_first_delay
  poll_max_interval:
    description:
      - Longest pause between two looks at a command's result.
    type: float
    default: 2
    vars:
      - name: ansible_alicloud_poll_max_interval
  transfer_cache:
    description:
      - Directory on the controller that remembers, per instance, which transfer chunks it already
        holds (so unchanged data is not sent again) and how long commands take there (so the first
        result poll is aimed just after the command ends).
    type: path
    default: ~/.ansible/alicloud_ecs/chunks
    env:
      - name: ANSIBLE_ALICLOUD_TRANSFER_CACHE
    vars:
      - name: ansible_alicloud_transfer_cache
  staging_max_age:
    description:
      - Hours the instance keeps staged transfer chunks and kept module payloads (root's under
        C(/var/lib/alicloud-ecs/root), another remote user's under C(~/.alicloud-ecs) in that user's home) and work
        directories of the remote user that a killed command left behind, before they are pruned.
      - Pruning runs on the instance at most once an hour, inside a command that uses the staging directory.
        What was pruned is sent again when needed, so this trades instance disk for API calls.
    type: int
    default: 168
    env:
      - name: ANSIBLE_ALICLOUD_STAGING_MAX_AGE
    vars:
      - name: ansible_alicloud_staging_max_age
  staging_max_size:
    description:
      - Megabytes the instance's staging directory may hold after pruning by age; beyond that the oldest files go.
    type: int
    default: 512
    env:
      - name: ANSIBLE_ALICLOUD_STAGING_MAX_SIZE
    vars:
      - name: ansible_alicloud_staging_max_size
  transfer_parallelism:
    description:
      - How many SendFile calls (uploads) and page reads (downloads and large outputs) a file transfer
        keeps in flight at once.
      - Higher values move large files faster until the API's rate limit for the account is reached
        (throttled calls are retried with backoff).
    type: int
    default: 16
    env:
      - name: ANSIBLE_ALICLOUD_TRANSFER_PARALLELISM
    vars:
      - name: ansible_alicloud_transfer_parallelism
  audit_tags:
    description:
      - Tag every invocation with the controller's user and host so the cloud's records show who
        ran it and from where.
    type: boolean
    default: true
    vars:
      - name: ansible_alicloud_audit_tags
  invocation_name:
    description:
      - Name of every invocation in the cloud's records (at most 128 characters).
      - When unset, C(ansible:) followed by the play's name.
    type: str
    vars:
      - name: ansible_alicloud_invocation_name
  become_password_store:
    description:
      - Where the become password travels to the instance.
      - V(inline) (the default) writes it, Base64-encoded, into the command's content, so it is visible to
        everyone who may read the account's invocations (C(DescribeInvocations), the console) and sits in the
        agent's script copy while the command runs.
      - V(oos_secret) puts it into an OOS secret parameter of the instance's region that lives only while
        that one command runs (created just before, deleted right after, its name C(ansible-become-<expiry>-<random>));
        the content carries C({{oos-secret:NAME}}) and the agent on the instance replaces it (C(EnableParameter)).
        The agent then deletes its script copy. Needs Cloud Assistant agent 2.2.3.309 or later, an instance RAM
        role allowed C(oos:GetSecretParameter) (and C(kms:Decrypt)), and the controller allowed
        C(oos:CreateSecretParameter), C(oos:DeleteSecretParameter) and C(oos:ListSecretParameters); see
        docs/security.md and docs/permissions.md. Expired leftovers of a killed controller are pruned once per
        controller process and region.
      - Only a command that has a become password to give uses it; it costs three OOS calls per such command.
    type: str
    choices: [inline, oos_secret]
    default: inline
    env:
      - name: ANSIBLE_ALICLOUD_BECOME_PASSWORD_STORE
    vars:
      - name: ansible_alicloud_become_password_store
  play_name:
    description:
      - The running play's name, read from ansible's own C(ansible_play_name); it names invocations
        when O(invocation_name) is unset. Not meant to be set by hand.
    type: str
    vars:
      - name: ansible_play_name
notes:
  - The instance needs a running Cloud Assistant agent, POSIX C(sh), C(base64), C(gzip) and C(sha256sum)
    (standard on every Linux image). Python is needed only for modules, as over SSH.
  - Windows instances (C(ansible_shell_type=powershell), set by the M(alicloud.ecs.instances) inventory) get a
    PowerShell envelope run as C(RunPowerShellScript), with the same framing, staging and paging. It has NOT been
    verified against a real Windows instance; only the default C(System) user is supported. See docs/connection.md.
  - The RAM actions this plugin can call (C(ecs:RunCommand), C(ecs:DescribeInvocationResults), C(ecs:SendFile),
    C(ecs:StopInvocation), and C(ecs:DescribeInstances) for the reachability check) and a minimal RAM policy are
    listed in docs/permissions.md of the collection.
"""

EXAMPLES = r"""
# Inventory host vars (the alicloud.ecs.instances inventory sets these for you)
# web-1:
#   ansible_connection: alicloud.ecs.cloud_assistant
#   ansible_alicloud_instance_id: i-bp1hsglsw6t0lrzjhgxa
#   ansible_alicloud_region: cn-hangzhou

- name: Configure web servers without SSH
  hosts: web
  vars:
    ansible_connection: alicloud.ecs.cloud_assistant
  tasks:
    - name: Ensure a config file
      ansible.builtin.copy:
        content: "listen 80\n"
        dest: /etc/app.conf
        mode: "0644"
"""

import getpass
import os
import re
import shlex
import socket
import typing as t
from dataclasses import replace

from ansible.errors import AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ConnectionBase
from ansible.utils.display import Display

from ansible_collections.alicloud.ecs.plugins.module_utils.api.client import CloudClient
from ansible_collections.alicloud.ecs.plugins.module_utils.api.options import settings_from_options
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.deferred_steps import DeferredSteps, StepFailed
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.become_store import (
    instance_role_message, stored_password,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.api.errors import CloudError, ConfigError
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.instance_cache import InstanceCache
from ansible_collections.alicloud.ecs.plugins.module_utils.engine.invocation import InvocationTimeout, PollSchedule
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.reachability import (
    agent_error_is_unreachable, api_error_is_unreachable, instance_state, refused_for_the_instance,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.powershell_transport import (
    PowerShellEnvelope, fetch_command, put_command,
)
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.remote_exec import MAX_STAGING_ATTEMPTS, InstanceExecutor
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_errors import RemoteExecError
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.exec_options import ExecOptions
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.shell_dialect import ShellEnvelope
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.become_script import BecomeAnswer, unanswered_prompt
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.stdin_plan import StagingLimits
from ansible_collections.alicloud.ecs.plugins.module_utils.execution.frame import TransportError
from ansible_collections.alicloud.ecs.plugins.plugin_utils import inventory_credentials
from ansible_collections.alicloud.ecs.plugins.plugin_utils.diagnostics import display_log
from ansible_collections.alicloud.ecs.plugins.plugin_utils.session.route import (
    FETCH_LIMIT, PUT_LIMIT, SessionRoute, session_route,
)

try:  # ansible-core's own decoder for PowerShell's CLIXML error stream, as its ssh and winrm plugins use
    from ansible._internal._powershell._clixml import replace_stderr_clixml
except ImportError:  # an ansible-core without it: stderr is returned as PowerShell wrote it
    def replace_stderr_clixml(stderr: bytes) -> bytes:
        return stderr

display = Display()

FAILURES = (CloudError, ConfigError, InvocationTimeout, RemoteExecError, TransportError)
MAX_INVOCATION_NAME = 128  # RunCommand Name limit
# What ansible runs to expand ``~`` (or ``~user``) in remote_tmp before every task that needs a temporary directory.
HOME_QUERY = re.compile(r"^(?:\S+ -c )?'?echo (~[A-Za-z0-9_.-]*)'?$")
MAX_TAG_VALUE = 128


class Connection(ConnectionBase):
    """Runs ansible's commands and file transfers on an ECS instance through Cloud Assistant."""

    transport = "alicloud.ecs.cloud_assistant"
    has_pipelining = True
    has_tty = False

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._executor: InstanceExecutor | None = None
        self._route: SessionRoute | None = None  # transport=session: the kept session's side of this connection
        self._steps = DeferredSteps()  # temporary-directory steps waiting to run in front of the next command
        if self._is_powershell():
            # As ansible's ssh plugin does for Windows: PowerShell modules first, no executable wrapping.
            self.module_implementation_preferences = (".ps1", ".exe", "")
            self.allow_executable = False

    def _is_powershell(self) -> bool:
        """Windows instances (the inventory sets ansible_shell_type powershell) get the PowerShell envelope."""
        return getattr(self._shell, "SHELL_FAMILY", "") == "powershell"

    def _instance_id(self) -> str:
        instance_id = self.get_option("instance_id")
        if not instance_id:
            address = self._play_context.remote_addr or ""
            if address.startswith("i-"):
                instance_id = address
        if not instance_id:
            raise AnsibleConnectionFailure(
                "alicloud.ecs.cloud_assistant needs the instance ID: set ansible_alicloud_instance_id "
                "(the alicloud.ecs.instances inventory does) or use the instance ID as the host address")
        return instance_id

    def _from_environment(self, option: str) -> bool:
        """Whether ``option`` holds only an environment variable's value (it then yields to the inventory source's
        credentials). ansible-core 2.17 answers get_option_and_origin from the configuration without the host's
        variables, so an origin "env" whose value is not the option's own means a host variable set it."""
        value, origin = self.get_option_and_origin(option)
        return str(origin).startswith("env") and value == self.get_option(option)

    def _connect(self) -> Connection:
        if self._connected:
            return self
        instance_id = self._instance_id()
        try:
            # The host's own variables, else its inventory source's credentials (which beat environment
            # variables, as the source named them for its hosts), else the credential chain.
            settings = settings_from_options(
                self.get_option, inherited=inventory_credentials.lookup(self.get_option("credential_source")),
                from_environment=self._from_environment)
            client = CloudClient(settings, log=display_log(display, instance_id))
        except ConfigError as error:
            raise AnsibleConnectionFailure(to_native(error)) from None
        tags = {}
        if self.get_option("audit_tags"):
            tags = {"alicloud-ecs:controller-user": getpass.getuser()[:MAX_TAG_VALUE],
                    "alicloud-ecs:controller-host": socket.gethostname()[:MAX_TAG_VALUE]}
        name = self.get_option("invocation_name") or f"ansible: {self.get_option('play_name') or 'ad-hoc'}"
        options = ExecOptions(
            username=self.get_option("remote_user") or None,
            timeout=self.get_option("command_timeout"),
            wait_margin=self.get_option("wait_margin"),
            name=name[:MAX_INVOCATION_NAME],
            tags=tags,
            schedule=PollSchedule(first=self.get_option("poll_first_delay"),
                                  cap=self.get_option("poll_max_interval")),
            parallelism=self.get_option("transfer_parallelism"),
            envelope=PowerShellEnvelope() if self._is_powershell() else ShellEnvelope(),
            staging=StagingLimits(max_age_hours=self.get_option("staging_max_age"),
                                  max_size_mb=self.get_option("staging_max_size")),
        )
        # Staged chunks live in a per-user directory on the instance, so what it holds is per user (and directory) too.
        user = options.username or "root"
        cache = InstanceCache(self.get_option("transfer_cache"),
                              f"{settings.endpoint or settings.region}|{settings.credentials.identity}", instance_id,
                              user=user, place=options.envelope.chunk_dir(user))
        self._executor = InstanceExecutor(client, instance_id, options, cache)
        if self.get_option("transport") == "session" and not self._is_powershell():
            self._route = session_route(client, instance_id, settings.region, options.username, display.warning)
        display.vvv(f"ESTABLISH CLOUD ASSISTANT CONNECTION FOR USER: {options.username or 'root'}",
                    host=instance_id)
        self._connected = True
        return self

    def _private(self) -> bool:
        """A no_log task: nothing of it may stay in what the collection keeps (kept payloads, staged chunks, cache)."""
        return bool(self._play_context.no_log)

    def _run(self, command: str, in_data: bytes | None, become: BecomeAnswer | None = None,
             sink: t.BinaryIO | None = None, session: bool = True) -> tuple[int, bytes, bytes]:
        """Run ``command`` (with the deferred steps in front) and return its rc, stdout and stderr; with
        ``sink``, stdout streams into that file instead. With transport=session it goes over the session unless
        ``session`` is false (a file too large for it) or a become prompt must be answered (RunCommand does)."""
        self._connect()
        script, steps, nonce = self._steps.take(to_bytes(command, errors="surrogate_or_strict"))
        frame = None
        if self._route is not None and become is None and session:
            frame = self._route.exec(script, in_data, self._executor.options.timeout)
            if frame is not None and sink is not None:
                sink.write(frame.stdout)
                frame = frame._replace(stdout=b"")
        try:
            if frame is None:
                frame = self._executor.run(script, in_data, sink, become=become, private=self._private())
        except FAILURES as error:
            if become is not None and become.reference and isinstance(error, RemoteExecError):
                error = RemoteExecError(instance_role_message(error.error_code, str(error)), error.invoke_id,
                                        error.error_code)
            raise self._failure(error) from None
        try:
            self._steps.check(frame.stderr, steps, nonce)
        except StepFailed as failed:
            raise _step_error(failed) from None
        return frame.rc, frame.stdout, frame.stderr

    def _failure(self, error: Exception) -> AnsibleError:
        """UNREACHABLE (AnsibleConnectionFailure) only when nothing could run on the instance; a command
        that ran and failed, timed out or was stopped is the task's failure (AnsibleError), as with ssh.
        The table is in docs/connection.md; module_utils/execution/reachability decides on the service's codes."""
        message = to_native(error)
        if isinstance(error, CloudError):
            unreachable = api_error_is_unreachable(error)
            ask_state = refused_for_the_instance(error)
        elif isinstance(error, RemoteExecError):
            unreachable = agent_error_is_unreachable(error.error_code)
            ask_state = unreachable
        else:
            unreachable, ask_state = isinstance(error, ConfigError), False
        if ask_state and self._executor is not None:
            state = instance_state(self._executor.client, self._executor.instance_id)
            if state:
                message = f"{state}; {message}"
        return AnsibleConnectionFailure(message) if unreachable else AnsibleError(message)

    def exec_command(self, cmd: str, in_data: bytes | None = None, sudoable: bool = True) -> tuple[int, bytes, bytes]:
        super().exec_command(cmd, in_data=in_data, sudoable=sudoable)
        # A no_log task's command line (a raw or script task's own words) is as private as its output.
        display.vvv("EXEC (command hidden: no_log)" if self._private() else f"EXEC {cmd}", host=self._instance_id())
        if self._is_powershell():
            # Become on Windows (runas) happens inside ansible's exec wrapper, never at a prompt.
            rc, out, err = self._run(cmd, in_data)
            return rc, out, replace_stderr_clixml(err)
        deferred = self._steps.defer(cmd, self._shell.tmpdir) if in_data is None and not sudoable else None
        if deferred:
            display.vvv("answered now, runs in front of the task's next command (or never, if none comes)",
                        host=self._instance_id())
            return deferred
        if not (sudoable and self.become):
            home = HOME_QUERY.match(cmd) if in_data is None else None
            return self._home(cmd, home.group(1)) if home else self._run(cmd, in_data)
        if self.become.expect_prompt():
            return self._run_with_become_password(cmd, in_data)
        rc, out, err = self._run(cmd, in_data)
        if rc != 0 and self.become.check_missing_password(err):
            raise AnsibleError(
                f"Missing {self.become.name} password: the instance asked for one; set become_password "
                f"(ansible_become_password) or allow {self.become.name} without a password for this user")
        return rc, out, err

    def _home(self, cmd: str, tilde: str) -> tuple[int, bytes, bytes]:
        """A home directory does not move: the instance's first answer to ``echo ~`` is remembered (per
        instance and remote user), which saves a round trip on every copy, template, fetch or script task."""
        self._connect()
        cache = self._executor.cache
        known = cache.remembered(f"home {tilde}") if cache else None
        if known:
            display.vvv(f"{tilde} is {known} (remembered from this instance's earlier answer)", host=self._instance_id())
            return 0, known.encode() + b"\n", b""
        rc, out, err = self._run(cmd, None)
        answer = out.decode(errors="replace").strip()
        if cache and rc == 0 and answer.startswith("/") and "\n" not in answer:
            cache.remember(f"home {tilde}", answer)
        return rc, out, err

    def _run_answered(self, cmd: str, in_data: bytes | None, answer: BecomeAnswer) -> tuple[int, bytes, bytes]:
        """``_run`` with the become answer; with become_password_store=oos_secret the password goes into a secret
        parameter for this one command and the script carries only its reference (see execution/become_store)."""
        if self.get_option("become_password_store") != "oos_secret" or not answer.password:
            return self._run(cmd, in_data, answer)
        self._connect()
        executor = t.cast(InstanceExecutor, self._executor)
        options = executor.options
        host = self._instance_id()
        try:
            # Its name's expiry (when another controller may prune it) outlasts every staging attempt of the command.
            lifetime = (options.timeout + options.wait_margin) * MAX_STAGING_ATTEMPTS + 60
            with stored_password(executor.client, answer.password, lifetime,
                                 lambda text: display.warning(f"{host}: {text}")) as reference:
                return self._run(cmd, in_data, replace(answer, password=b"", reference=reference))
        except (CloudError, ValueError) as error:
            raise AnsibleError(f"become_password_store=oos_secret: {to_native(error)}") from None

    def _run_with_become_password(self, cmd: str, in_data: bytes | None) -> tuple[int, bytes, bytes]:
        """Answer the become prompt without a terminal, and only if it comes.

        Cloud Assistant is not interactive, so the envelope on the instance does what ansible's ssh plugin
        does on a terminal: it watches the command's stderr for the become plugin's prompt and its stdout
        for the success marker, gives the password once to the prompt, and the command's own input only
        after the marker. Root becoming another user, or NOPASSWD sudo, never sees the password. A wrong
        password is answered no further: the escalation fails at once with a clear error, never a hang.
        """
        if not isinstance(self.become.prompt, str) or not self.become.success:
            raise AnsibleError(
                f"{self.become.name} asks for its password in a way only a terminal can answer, and Cloud Assistant "
                "has none: use sudo, or let the remote user escalate without a password")
        password = self.become.get_option("become_pass", playcontext=self._play_context) or ""
        answer = BecomeAnswer(password=to_bytes(password, errors="surrogate_or_strict"),
                              prompt=self.become.prompt, success=self.become.success)
        rc, out, err = self._run_answered(cmd, in_data, answer)
        asked = unanswered_prompt(err, self.become.prompt)
        if asked is not None:
            raise AnsibleError(
                f"{self.become.name} asked {asked!r} instead of its expected prompt {self.become.prompt!r}, so the "
                "password was not given and the command was stopped: a sudoers passprompt/passprompt_override, a "
                "-p in become_flags, or a second PAM factor asks something Cloud Assistant cannot answer")
        if self.become.check_incorrect_password(err) or self.become.check_incorrect_password(out):
            raise AnsibleError(f"Incorrect {self.become.name} password")
        if self.become.check_missing_password(err) or self.become.check_missing_password(out):
            raise AnsibleError(f"Missing {self.become.name} password")
        return rc, out, self._strip_prompt(err)

    def _strip_prompt(self, err: bytes) -> bytes:
        """The become prompt (and what precedes it) out of stderr: the become plugin's own helper where it has one
        (ansible-core 2.18 and later), the same rule otherwise (2.17 has none)."""
        strip = getattr(self.become, "strip_become_prompt", None)
        if strip is not None:
            return strip(err)
        prompt = to_bytes(self.become.prompt)
        return re.sub(rb"^.*?" + re.escape(prompt) + rb"\s*", b"", err, count=1, flags=re.DOTALL)

    def put_file(self, in_path: str, out_path: str) -> None:
        """Upload through the command's stdin: staged in verified chunks, then written in one go."""
        super().put_file(in_path, out_path)
        display.vvv(f"PUT {in_path} TO {out_path}", host=self._instance_id())
        try:
            with open(to_bytes(in_path, errors="surrogate_or_strict"), "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise AnsibleError(f"cannot read {in_path}: {to_native(error)}") from None
        if not self._is_powershell() and self._steps.defer_put(data, out_path, self._shell.tmpdir):
            display.vvv("small file in the task's temporary directory: written in front of the task's next command",
                        host=self._instance_id())
            return
        command = put_command(out_path) if self._is_powershell() else f"cat > {shlex.quote(out_path)}"
        rc, _out, err = self._run(command, data, session=len(data) <= PUT_LIMIT)
        if rc != 0:
            raise AnsibleError(f"failed to write {out_path} on the instance (rc {rc}): {to_native(err)}")

    def fetch_file(self, in_path: str, out_path: str) -> None:
        """Download as the standard output of ``cat``, paged back, checksummed, and streamed to a
        temporary file beside ``out_path`` that replaces it only once the whole file is verified."""
        super().fetch_file(in_path, out_path)
        display.vvv(f"FETCH {in_path} TO {out_path}", host=self._instance_id())
        self._connect()
        dest = to_bytes(out_path, errors="surrogate_or_strict")
        partial = dest + f".alicloud-ecs-{os.urandom(4).hex()}.part".encode()
        command = fetch_command(in_path) if self._is_powershell() else f"cat -- {shlex.quote(in_path)}"
        session = self._small_for_session(in_path)
        try:
            try:
                with open(partial, "xb") as sink:
                    rc, _out, err = self._run(command, None, sink=sink, session=session)
            except OSError as error:
                raise AnsibleError(f"cannot write {out_path}: {to_native(error)}") from None
            if rc != 0:
                raise AnsibleError(f"failed to read {in_path} on the instance (rc {rc}): {to_native(err)}")
            os.replace(partial, dest)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def _small_for_session(self, in_path: str) -> bool:
        """Whether a file to fetch goes over the session: unless its size, asked over the session, is above
        FETCH_LIMIT (then it is paged back through RunCommand). A file whose size cannot be read stays on the
        session, whose ``cat`` then fails with the same error RunCommand's would, for no API call."""
        if self._route is None or not self._route.usable():
            return False
        rc, out, _err = self._run(f"stat -L -c %s -- {shlex.quote(in_path)}", None)
        return not (rc == 0 and out.strip().isdigit() and int(out) > FETCH_LIMIT)

    def reset(self) -> None:
        """With transport=session the kept session ends too (``meta: reset_connection``), as ssh's reset stops its
        ControlPersist master: the next task starts a new one, whose login sees the user's new groups."""
        if self.get_option("transport") == "session" and not self._is_powershell():
            self._connect()
            t.cast(SessionRoute, self._route).end()
        self.close()

    def close(self) -> None:
        dropped = self._steps.drop()
        if dropped:
            display.vvv(f"not needed after all (no command followed): {'; '.join(step.label for step in dropped)}",
                        host=self._instance_id())
        if self._route is not None:
            self._route.close()
            self._route = None
        self._executor = None
        self._connected = False


def _step_error(failed: StepFailed) -> AnsibleError:
    """The error ansible itself raises when that step fails, saying where it ran."""
    step, output = failed.step, to_native(failed.output)
    where = "(run in front of the task's next command, which did not run)"
    if step.kind == "mkdtemp":
        return AnsibleConnectionFailure(
            f"Failed to create temporary directory {where}. Failed command was: {step.script}, exited with result "
            f"{failed.rc}, output: {output}")
    if step.kind == "chmod":
        return AnsibleError(f"Failed to set permissions on remote files {where} (rc: {failed.rc}, err: {output})")
    return AnsibleError(f"failed to write {step.path} on the instance {where} (rc {failed.rc}): {output}")
