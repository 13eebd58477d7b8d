#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: contributors to the alicloud.ecs collection
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put one file on many ECS instances through Cloud Assistant, only where it is not already in place."""

from __future__ import annotations

DOCUMENTATION = r"""
module: send_file
short_description: Put a file on ECS instances through Cloud Assistant
version_added: 0.1.0
description:
  - Writes one file, with its owner, group and mode, on a list of Linux instances through Cloud Assistant, and
    reports the outcome per instance.
  - First one RunCommand (per 100 instances) reads the sha256, owner, group and mode of the target on every
    running instance. Instances that already hold the same file are left alone; when all do, nothing is sent and
    the task reports no change.
  - A file of up to 24 KB (32 KB once Base64-encoded, SendFile's limit) goes with SendFile, 50 instances a call,
    followed with DescribeSendFileResults until every instance is done or the deadline passes, to the instances
    where only root can change the target directory and the path to it.
  - The Cloud Assistant agent writes a SendFile file in place as root and follows a link at the target, and it
    drops setuid, setgid and sticky bits, looks owner and group up by name only, refuses an empty file and does
    not chown to root:root. So a larger file, an empty one, a O(mode) with those bits, a numeric O(owner) or
    O(group), a target directory another user owns or can write to (such as a home directory or C(/tmp)), and a
    file someone else owns that should become root's, go through the collection's transfer engine (the one the
    C(alicloud.ecs.cloud_assistant) connection uses) instead, as sha256-verified chunks.
  - That way the file is written, given its owner and mode in a new directory only root can enter (made in
    the target directory, or in its parent when the target directory is another user's), and renamed into
    place; a link planted at the target is replaced, never followed.
  - Nothing is written where a directory or link above the target directory belongs to another user, or when
    the target is a symbolic link; that instance fails with C(UnsafePath) and the path named. When the target
    directory is another user's, its parent must be on the same mount (for the rename), else the same error.
  - The task fails when any instance fails; every instance's outcome is still returned. An instance that is not
    running fails with C(InstanceNotRunning), one whose agent is offline with the agent's error code, one that
    has no such O(owner) or O(group) with C(UserGroupNotExists) before anything is written.
author:
  - alicloud.ecs maintainers (@alicloud-ecs)
options:
  instance_ids:
    description:
      - The instances to put the file on. They must exist in the region.
      - There is no limit; calls are made 50 (SendFile) or 100 (RunCommand) instances at a time.
    type: list
    elements: str
    required: true
  content:
    description:
      - The file's content, as text (written as UTF-8). Mutually exclusive with O(src); one of them is required.
    type: str
  src:
    description:
      - Path of a file on the controller to send; any bytes.
    type: path
  name:
    description:
      - Name of the file on the instances, at most 255 characters, without C(/).
      - Defaults to the base name of O(src); required with O(content).
    type: str
  target_dir:
    description:
      - Absolute directory on the instances, at most 255 characters. It is created when missing.
    type: str
    required: true
  owner:
    description:
      - Owner of the file (name or numeric id), at most 64 characters, not starting with C(-).
    type: str
    default: root
  group:
    description:
      - Group of the file (name or numeric id), at most 64 characters, not starting with C(-).
    type: str
    default: root
  mode:
    description:
      - Permissions as 3 or 4 octal digits. Quote it (V('0644')); a bare YAML number is taken as an octal
        value already converted, like ansible.builtin.file does.
      - Setuid, setgid and sticky bits are kept (the file then goes in chunks, see above).
    type: raw
    default: '0644'
  overwrite:
    description:
      - Whether to replace a different file at the target.
      - With V(false) an instance where the target exists keeps it (reported as C(Skipped)) whatever it holds.
    type: bool
    default: true
  timeout:
    description:
      - Seconds each instance may take to receive the file, 10 to 86400 (SendFile's C(Timeout)); the module waits
        that long plus 30 seconds for the results.
    type: int
    default: 60
extends_documentation_fragment:
  - alicloud.ecs.api
  - alicloud.ecs.api.modules
attributes:
  check_mode:
    support: full
    description: Looks at every instance (one RunCommand) and reports, per instance, whether the file would be sent.
  diff_mode:
    support: full
    description: Shows, per instance that changes, the old and new text of files of up to 8 KB, or the old and new
      owner, group and mode. The old text is shown only from a directory no other user can change.
notes:
  - Run it on the controller (C(delegate_to localhost)); O(src) is read there.
  - Only Linux instances are supported; the look at the target is a POSIX shell script using GNU coreutils
    (C(stat -c), C(dd iflag=nofollow), C(mv -T), C(ln -T)).
"""

EXAMPLES = r"""
- name: Put the MOTD on the web servers
  alicloud.ecs.send_file:
    instance_ids: "{{ web.instances | map(attribute='instance_id') | list }}"
    content: "Managed by Ansible\n"
    name: motd
    target_dir: /etc
    mode: '0644'
  delegate_to: localhost
  register: motd

- name: Ship an application archive (any size)
  alicloud.ecs.send_file:
    instance_ids: [i-bp67acfmxazb4p0001, i-bp67acfmxazb4p0002]
    src: dist/app.tar.gz
    target_dir: /opt/app
    owner: app
    group: app
    mode: '0640'
    timeout: 300
  delegate_to: localhost
"""

RETURN = r"""
path:
  description: The file's path on the instances.
  returned: always
  type: str
  sample: /etc/motd
sha256:
  description: SHA-256 of the file's content.
  returned: always
  type: str
method:
  description: How the file travels to an instance whose directory only root can change, V(SendFile) (one call)
    or V(chunks) (the transfer engine); each instance's own way is in RV(results[].method).
  returned: always
  type: str
results:
  description: One entry per instance, in the order of O(instance_ids).
  returned: always
  type: list
  elements: dict
  contains:
    instance_id:
      description: Instance id.
      type: str
    status:
      description:
        - The SendFile status (V(Success), V(Failed), V(Aborted), V(Invalid), V(Error), V(Timeout)) when the file was
          sent, V(Unchanged) when the instance already held it, V(Skipped) when it held another file and
          O(overwrite=false), V(Planned) in check mode when it would be sent.
      type: str
      sample: Success
    changed:
      description: Whether the file was (or in check mode would be) written on this instance.
      type: bool
    error_code:
      description: The error code for a failed instance, in SendFile's terms (for example C(ClientNotResponse)).
      type: str
    error_info:
      description: The error message for a failed instance.
      type: str
    invoke_id:
      description: The file task (or, for a failure found while looking, the command) id, when there was one.
      type: str
    method:
      description: How the file went (or in check mode would go) to this instance, V(SendFile) or V(chunks);
        empty when nothing was sent.
      type: str
    before:
      description: What the instance held at the path before, when it could be looked at
        (C(exists), and for a file C(sha256), C(owner), C(group), C(mode), C(size); C(link) for a symbolic link).
      type: dict
"""

import os
import time

from ansible_collections.alicloud.ecs.plugins.module_utils.services.cloud_module import CloudModule
from ansible_collections.alicloud.ecs.plugins.module_utils.services import send_files as files

ARGUMENT_SPEC = {
    "instance_ids": {"type": "list", "elements": "str", "required": True},
    "content": {"type": "str"},
    "src": {"type": "path"},
    "name": {"type": "str"},
    "target_dir": {"type": "str", "required": True},
    "owner": {"type": "str", "default": "root"},
    "group": {"type": "str", "default": "root"},
    "mode": {"type": "raw", "default": "0644"},
    "overwrite": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 60},
}


def file_spec(params: dict) -> files.FileSpec:
    """The wanted file from the options, checked against SendFile's limits."""
    if params["src"]:
        try:
            with open(params["src"], "rb") as handle:
                data = handle.read()
        except OSError as error:
            raise ValueError(f"src: cannot read {params['src']}: {error.strerror}") from None
    else:
        data = params["content"].encode("utf-8")
    name = params["name"] or (os.path.basename(params["src"]) if params["src"] else "")
    mode = params["mode"]
    spec = files.FileSpec(data=data, name=name, target_dir=params["target_dir"], owner=params["owner"],
                          group=params["group"], mode=f"{mode:04o}" if isinstance(mode, int) else str(mode),
                          overwrite=params["overwrite"], timeout=params["timeout"])
    files.check_spec(spec, params["instance_ids"])
    return spec


def look(module: CloudModule, spec: files.FileSpec, ids: list) -> tuple[dict, dict]:
    """Outcomes already known (not running, unreachable, unchanged, skipped) and the instances to send to."""
    states = files.instance_states(module.client, ids)
    unknown = [instance_id for instance_id in ids if instance_id not in states]
    if unknown:
        module.fail_json(msg=f"instance_ids: not found in region {module.client.region}: {', '.join(unknown)}")
    known = {instance_id: files.outcome(instance_id, "Aborted", error_code=files.NOT_RUNNING[0],
                                        error_info=files.NOT_RUNNING[1])
             for instance_id in ids if states[instance_id] != "Running"}
    running = [instance_id for instance_id in ids if instance_id not in known]
    deadline = time.monotonic() + files.PROBE_TIMEOUT + files.WAIT_MARGIN
    to_send = {}
    probed = files.probe(module.client, running, spec, module._diff and files.is_text(spec.data), deadline)
    for instance_id, found in probed.items():
        decided = found if isinstance(found, dict) else files.verdict(instance_id, spec, found)
        if decided is None:
            to_send[instance_id] = found
        else:
            known[instance_id] = decided
    return known, to_send


def send(module: CloudModule, spec: files.FileSpec, to_send: dict) -> dict:
    """SendFile where the agent writes exactly this file and only root can change the directory; the
    transfer engine and a private rename everywhere else. Each outcome says which way it went."""
    direct = [instance_id for instance_id, found in to_send.items() if files.by_sendfile(spec, found)]
    rest = [instance_id for instance_id in to_send if instance_id not in direct]
    if module.check_mode:
        sent = {instance_id: files.outcome(instance_id, "Planned", changed=True) for instance_id in to_send}
    else:
        sent = files.send_small(module.client, direct, spec, time.monotonic() + spec.timeout + files.WAIT_MARGIN) \
            if direct else {}
        sent.update(files.send_large(module.client, rest, spec) if rest else {})
    for instance_id, item in sent.items():
        item["before"] = to_send[instance_id].summary()
        item["method"] = "SendFile" if instance_id in direct else "chunks"
    return sent


def diffs(spec: files.FileSpec, to_send: dict) -> list:
    """Per instance that changes: the text before and after when both sides are small text, and the
    attributes (with the sha256 when the text is not shown) when they differ."""
    entries = []
    for instance_id, found in to_send.items():
        header = f"{instance_id}:{spec.path}"
        show_text = files.is_text(spec.data) and (not found.exists or found.content is not None)
        keys = ("owner", "group", "mode") if show_text else ("sha256", "owner", "group", "mode")
        wanted = {"sha256": spec.sha256, "owner": spec.owner, "group": spec.group, "mode": spec.mode.zfill(4)}
        before = {key: found.summary().get(key) for key in keys} if found.exists else {}
        after = {key: wanted[key] for key in keys}
        if show_text and found.content != spec.data:
            entries.append({"before": (found.content or b"").decode("utf-8", "replace"),
                            "after": spec.data.decode("utf-8"), "before_header": header, "after_header": header})
        if before != after:
            entries.append({"before": before, "after": after, "before_header": f"{header} (attributes)",
                            "after_header": f"{header} (attributes)"})
    return entries


def main() -> None:
    module = CloudModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True, mutually_exclusive=[("content", "src")],
                         required_one_of=[("content", "src")])
    try:
        spec = file_spec(module.params)
    except ValueError as error:
        module.fail_json(msg=str(error))
    ids = list(dict.fromkeys(module.params["instance_ids"]))
    with module.failures():
        known, to_send = look(module, spec, ids)
        sent = send(module, spec, to_send)
    results = [known.get(instance_id) or sent[instance_id] for instance_id in ids]
    result = {"changed": any(item["changed"] for item in results), "results": results, "path": spec.path,
              "sha256": spec.sha256, "method": "SendFile" if spec.fits_sendfile else "chunks"}
    if module._diff and to_send:
        result["diff"] = diffs(spec, to_send)
    failed = [item for item in results if item["status"] not in files.OK_STATUSES]
    if failed:
        details = "; ".join(f"{item['instance_id']}: {item['status']} {item['error_code']} {item['error_info']}".strip()
                            for item in failed)
        module.fail_json(msg=f"send_file failed on {len(failed)} of {len(results)} instances: {details}", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
