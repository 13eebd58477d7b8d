"""Status machines of docs/api-contract.md#invocation-statuses: fine per-instance states, the coarse ones, batch derivation, error texts."""
from __future__ import annotations

from collections.abc import Iterable

FAILED_CLASS = frozenset({"Invalid", "Aborted", "Failed", "Timeout", "Error"})
STOPPED_CLASS = frozenset({"Cancelled", "Terminated"})
TERMINAL = FAILED_CLASS | STOPPED_CLASS | {"Success"}

# ⚠ docs/api-contract.md#invocation-statuses mapping is inferred; kept in one table so it can be changed in one place.
COARSE = {"Pending": "Running", "Scheduled": "Running", "Running": "Running", "Stopping": "Stopping",
          "Success": "Finished", "Failed": "Finished", "Invalid": "Failed", "Aborted": "Failed",
          "Timeout": "Failed", "Error": "Failed", "Cancelled": "Stopped", "Terminated": "Stopped"}

ERROR_INFO = {
    "InstanceNotExists": "the specified instance does not exists",
    "InstanceReleased": "the instance has released when create task",
    "InstanceNotRunning": "the instance is not running when create task",
    "CommandNotApplicable": "the command is not applicable",
    "AccountNotExists": "the specified account does not exists",
    "DirectoryNotExists": "the specified directory does not exists",
    "ClientNotRunning": "the aliyun service is not running on the instance",
    "ClientNotResponse": "the aliyun service in the instance does not response",
    "DeliveryTimeout": "the command delivery has been timeout",
    "ExecutionTimeout": "the command execution has been timeout",
    "ExecutionException": "the command execution got an exception",
    "ExecutionInterrupted": "the command execution has been interrupted",
    "ExitCodeNonzero": "the command execution exit code is not zero.",
    "TaskConcurrencyLimit": "The number of concurrent tasks exceeds the maximum limit.",  # ⚠ docs/api-contract.md#open-points
}

# agent-side outcome of a file write → (per-instance status, ErrorCode, ErrorInfo) (docs/api-contract.md#sendfile). The agent
# (agent/taskengine/sendfile.go) reports directory, write, chmod and chown errors as finished with an error
# number (Failed) and the rest through its "invalid task" call (Invalid); ⚠ which ErrorCode the server shows for
# each number or key is not documented: the closest code of docs/api-contract.md#sendfile is used.
FILE_OUTCOMES = {
    "OK": ("Success", "", ""),
    "FileAlreadyExists": ("Invalid", "FileAlreadyExists", "File already exists"),
    "EmptyContent": ("Invalid", "FileContentInvalid", "File content is empty"),
    "FileCreateFail": ("Failed", "FileCreateFail", "the file creation is failed due to unknown error"),
    "ChmodFail": ("Failed", "FileAuthorityInvalid", "the authority of file is invalid"),
    "ChownFail": ("Failed", "FileCreateFail", "the file creation is failed due to unknown error"),
    "FilePathInvalid": ("Failed", "FilePathInvalid", "File path is invalid"),
    "FileNameInvalid": ("Invalid", "FileNameInvalid", "File name is invalid"),
    "FileAuthorityInvalid": ("Invalid", "FileAuthorityInvalid", "Mode is invalid"),
    "UserNotExists": ("Invalid", "UserGroupNotExists", "Owner not exists"),
    "UserGroupNotExists": ("Invalid", "UserGroupNotExists", "Group not exists"),
}


def batch_status(states: Iterable[str]) -> str:
    """Batch InvocationStatus (docs/api-contract.md#invocation-statuses); ⚠ precedence Stopping > Running > Pending > Scheduled is the recommended one."""
    states = list(states)
    for live in ("Stopping", "Running", "Pending", "Scheduled"):
        if live in states:
            return live
    if not states or all(s in STOPPED_CLASS for s in states):
        return "Stopped"
    if all(s == "Success" or s in STOPPED_CLASS for s in states):
        return "Success"
    if all(s in FAILED_CLASS or s in STOPPED_CLASS for s in states):
        return "Failed"
    return "PartialFailed"


def batch_coarse(states: Iterable[str]) -> str:
    """Deprecated batch InvokeStatus (docs/api-contract.md#invocation-statuses): 'failed' means coarse Failed (Invalid/Aborted/Timeout/Error), not exit≠0."""
    coarse = [COARSE[s] for s in states]
    for live in ("Stopping", "Running"):
        if live in coarse:
            return live
    if not coarse or all(c == "Stopped" for c in coarse):
        return "Stopped"
    if all(c == "Failed" for c in coarse):
        return "Failed"
    if "Failed" in coarse:
        return "PartialFailed"
    return "Finished"


def file_batch_status(states: Iterable[str]) -> str:
    """SendFile batch status (docs/api-contract.md#sendfile)."""
    states = list(states)
    for live in ("Pending", "Running"):
        if live in states:
            return live
    if all(s == "Success" for s in states):
        return "Success"
    if all(s in FAILED_CLASS for s in states):
        return "Failed"
    return "PartialFailed"
