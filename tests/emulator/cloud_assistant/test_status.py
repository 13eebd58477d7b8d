"""Status derivation rules of docs/api-contract.md#invocation-statuses (pure functions, no server)."""
from __future__ import annotations

import pytest

from emulator.cloud_assistant.status import batch_coarse, batch_status, file_batch_status


@pytest.mark.parametrize(("states", "fine", "coarse"), [
    (["Pending", "Success"], "Pending", "Running"),
    (["Running", "Stopping"], "Stopping", "Stopping"),
    (["Success", "Success"], "Success", "Finished"),
    (["Success", "Cancelled"], "Success", "Finished"),
    (["Failed", "Aborted"], "Failed", "PartialFailed"),     # docs/api-contract.md#invocation-statuses example
    (["Failed", "Success"], "PartialFailed", "Finished"),
    (["Timeout", "Error"], "Failed", "Failed"),
    (["Cancelled", "Terminated"], "Stopped", "Stopped"),
    (["Success", "Timeout"], "PartialFailed", "PartialFailed"),
])
def test_batch_status(states: list[str], fine: str, coarse: str) -> None:
    assert batch_status(states) == fine
    assert batch_coarse(states) == coarse


def test_file_batch_status() -> None:
    assert file_batch_status(["Success", "Running"]) == "Running"
    assert file_batch_status(["Success", "Failed"]) == "PartialFailed"
    assert file_batch_status(["Invalid", "Failed"]) == "Failed"
