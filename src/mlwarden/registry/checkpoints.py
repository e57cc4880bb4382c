"""Signed audit checkpoints on a schedule, in a background thread of the server.

Entries after the latest checkpoint are covered by no signature, so the server signs one every
``audit_checkpoint_seconds`` when the log grew, and a last one when it stops cleanly. A failure (the
database away, a disk full) is logged, counted and retried at the next tick: it never stops the server.
Several replicas may sign at once; :meth:`AuditLog.checkpoint` settles who stores the note for a size.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger("mlwarden.registry")


class CheckpointLog(Protocol):
    """What the scheduler needs of the audit log (``mlwarden.registry.audit.AuditLog``)."""

    def checkpoint(self) -> str: ...

    def size(self) -> int: ...

    def signed_size(self) -> int: ...


class CheckpointScheduler:
    """Sign a checkpoint every ``interval`` seconds when the log grew; ``outcome`` counts each tick
    (``signed``, ``unchanged``, ``failed``)."""

    def __init__(
        self, audit: CheckpointLog, interval: float, outcome: Callable[[str], None] = lambda _o: None
    ) -> None:
        self.audit = audit
        self.interval = interval
        self.outcome = outcome
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> str:
        """Sign now if entries are unsigned; the outcome (exceptions are logged, never raised)."""
        try:
            size = self.audit.size()
            if size <= self.audit.signed_size():
                result = "unchanged"  # two cheap reads: no write transaction while the log is idle
            else:
                self.audit.checkpoint()
                result = "signed"
                log.info("audit checkpoint signed", extra={"event": "audit_checkpoint", "size": size})
        except Exception as exc:  # noqa: BLE001 - the server must outlive a failed checkpoint
            result = "failed"
            log.error(
                "audit checkpoint failed",
                extra={"event": "audit_checkpoint_failed", "error": f"{type(exc).__name__}: {exc}"},
            )
        self.outcome(result)
        return result

    def _run(self) -> None:
        # Event.wait, not sleep: stop() ends the wait at once, then the last checkpoint is signed.
        while not self._stop.wait(self.interval):
            self.tick()
        self.tick()

    def start(self) -> None:
        """Start the thread (interval 0: disabled, nothing starts)."""
        if self.interval <= 0 or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="audit-checkpoints", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop waiting, sign the final checkpoint and join (bounded: the thread is a daemon)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            log.warning(
                "audit checkpoint thread did not stop in time", extra={"event": "audit_checkpoint_timeout"}
            )
