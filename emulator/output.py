"""A command's Output as the Cloud Assistant agent reports it: a streamed head, then the tail of the rest.

The agent (aliyun_assist_client ``agent/taskengine/basetask.go``) collects stdout and stderr in one buffer. While
the command runs, a ticker (at least 1 s apart) takes at most 2,048 bytes from that buffer and reports them as
running output, until more than 6,000 bytes were reported; after that a tick only moves bytes aside. The final
report carries what was not streamed, cut to the quota left (``logQuota`` − streamed bytes) from its end, and
``dropped`` counts what that cut removed. So a long command's Output is a head of 6–8 KB followed by a tail, and a
fast one (done before the first tick) is just the tail within the quota. Periodic tasks never stream.

How the server joins the running reports and the final one is not in the agent's source: ⚠ the emulator shows the
streamed head while the command runs and head + final report when it ends.
"""
from __future__ import annotations

import threading

STREAM_CHUNK = 2048   # bytes one running report takes from the buffer (basetask.go tryRead)
STREAM_QUOTA = 6000   # streaming stops once more than this was reported (basetask.go defaultQuotoPre)


class AgentOutput:
    """One run's output: ``add`` takes bytes as the command writes them, ``tick`` is one running report."""

    def __init__(self, quota: int, streaming: bool = True) -> None:
        self.quota = quota
        self.streaming = streaming
        self.head = bytearray()   # reported while running
        self.rest = bytearray()   # not reported yet; its middle is cut once it can never be reported
        self.cut = 0              # bytes cut from the middle of ``rest`` (counted in Dropped at the end)
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        """The next bytes the command wrote."""
        with self.lock:
            self.rest += chunk
            keep_front = STREAM_QUOTA + STREAM_CHUNK - len(self.head) if self.streaming else 0
            if len(self.rest) > keep_front + self.quota:  # bytes between a possible head and the tail
                excess = len(self.rest) - keep_front - self.quota
                del self.rest[keep_front:keep_front + excess]
                self.cut += excess

    def tick(self) -> bytes | None:
        """One running report: the streamed head when it grew, None when nothing new is shown."""
        with self.lock:
            if len(self.head) > STREAM_QUOTA:
                self.streaming = False
            if not self.streaming or not self.rest:
                return None
            self.head += self.rest[:STREAM_CHUNK]
            del self.rest[:STREAM_CHUNK]
            return bytes(self.head)

    def final(self) -> tuple[bytes, int]:
        """(Output, Dropped) of the final report: the head, then the end of the rest within the quota left."""
        with self.lock:
            room = max(self.quota - len(self.head), 0)
            total = len(self.rest) + self.cut
            if total <= room:
                return bytes(self.head + self.rest), 0
            return bytes(self.head) + bytes(self.rest[len(self.rest) - room:] if room else b""), total - room
