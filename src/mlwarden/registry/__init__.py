"""The model registry: immutable versions, aliases, approvals and its tamper-evident audit log."""
