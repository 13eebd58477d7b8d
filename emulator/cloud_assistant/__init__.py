"""Cloud Assistant: RunCommand / SendFile and their result APIs (contract §2.1, §2.7–2.11, §3)."""
