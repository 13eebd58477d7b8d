"""Cloud Assistant: RunCommand / SendFile and their result APIs (docs/api-contract.md#runcommand
to #invocation-statuses)."""
