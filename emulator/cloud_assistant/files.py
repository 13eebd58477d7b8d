"""SendFile and DescribeSendFileResults (docs/api-contract.md#sendfile)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..clock import iso_seconds
from ..errors import ApiError, missing
from ..pagination import paginate
from ..protocol import Params
from . import validate
from .status import file_batch_status

if TYPE_CHECKING:
    from ..handler_context import Services

# ⚠ The server's own FileMode check is not documented: the emulator refuses anything but digits at the API
# (FileMode.Invalid) and leaves the rest to the agent, which takes 3 or 4 octal digits (else the task is Invalid).
FILE_MODE = re.compile(r"^[0-9]{0,12}$")


def send_file(emu: Services, p: Params) -> dict[str, Any]:
    """SendFile: Content ≤ 32 KB measured after Base64; Base64 ContentType → decoded bytes are written."""
    region = emu.region(p)
    ids = validate.instance_ids(p, 50)
    name = p.require("Name")
    if len(name) > 255:
        raise ApiError("FileName.ExceedLimit", "The length of file name exceeds limit.", 403)
    target_dir = p.require("TargetDir")
    if len(target_dir) > 255 or not target_dir.startswith("/"):
        raise ApiError("FileTargetDir.Invalid", "The specified target dir is invalid.")
    raw = p.raw.get("Content")
    if raw is None:  # ⚠ an empty Content goes to the agent (Invalid there); the server may refuse it as missing
        raise missing("Content")
    ctype = p.get("ContentType", "PlainText") or "PlainText"
    if ctype.lower() not in ("plaintext", "base64"):
        raise ApiError("FileContentType.Invalid", "The specified content type is invalid.")
    _decoded, b64 = validate.decode_content(raw, ctype.lower() == "base64", "FileContent.DecodeError",
                                            "The Content can not be base64 decoded.")
    if len(b64) > 32768:
        raise ApiError("FileSize.ExceedLimit", "The length of file content exceeds limit.", 403)
    mode = p.get("FileMode", "0644") or "0644"  # ⚠ an empty FileMode is taken as omitted
    if not FILE_MODE.match(mode):
        raise ApiError("FileMode.Invalid", "The specified file mode is invalid.")
    # An omitted owner or group is root (as DescribeSendFileResults shows it); an empty one reaches the agent
    # as it is, which skips chown when both are empty. ⚠ whether the server fills in an empty one is unknown.
    owner = p.raw.get("FileOwner", "root")
    group = p.raw.get("FileGroup", "root")
    for field, value in (("FileOwner", owner), ("FileGroup", group)):
        if len(value) > 64:
            raise ApiError(f"InvalidParameter.{field}", f'The specified parameter "{field}" is not valid.')
    desc = validate.max_len(p, "Description", 512, "FileDesc.ExceedLimit", "The length of description exceeds limit.")
    timeout = validate.timeout(p, emu.options, 10)
    tags = validate.tags(p)
    targets = emu.ca.targets(region, ids, "The specified instances not found.")
    spec = {"name": name, "description": desc, "content": raw, "content_type": "Base64" if ctype.lower() == "base64"
            else "PlainText", "data_b64": b64,
            "file_mode": mode, "owner": owner, "group": group, "overwrite": p.boolean("Overwrite"),
            "target_dir": target_dir, "timeout": timeout, "tags": tags}
    return emu.ca.send_file(region, spec, targets)


def describe_send_file_results(emu: Services, p: Params) -> dict[str, Any]:
    """DescribeSendFileResults: one entry per SendFile call, per-instance statuses inside."""
    region = emu.region(p)
    name, status = p.get("Name"), p.get("InvocationStatus")
    rendered = []
    for inv, rows in emu.ca.invocations("file", region, p.get("InvokeId"), p.get("InstanceId")):
        d = inv["data"]
        batch = file_batch_status(r["status"] for r in rows)
        if (name and d["name"] != name) or (status and batch != status):
            continue
        rendered.append({
            "InvokeId": inv["id"], "Name": d["name"], "Description": d["description"], "Content": d["content"],
            "ContentType": d["content_type"], "FileMode": d["file_mode"], "FileOwner": d["owner"],
            "FileGroup": d["group"], "Overwrite": d["overwrite"],  # ⚠ boolean, as in the only real example
            "TargetDir": d["target_dir"], "CreationTime": iso_seconds(inv["created"]), "VmCount": len(rows),
            "InvocationStatus": batch, "Tags": {"Tag": d["tags"]},
            "InvokeInstances": {"InvokeInstance": [{
                "InstanceId": r["instance_id"], "InvocationStatus": r["status"], "ErrorCode": r["error_code"],
                "ErrorInfo": r["error_info"], "CreationTime": iso_seconds(r["created"]),
                "StartTime": iso_seconds(r["started"]), "UpdateTime": iso_seconds(r["updated"]),
                "FinishTime": iso_seconds(r["finished"])} for r in rows]}})
    page, counters = paginate(rendered, p)
    return {"Invocations": {"Invocation": page}, **counters}
