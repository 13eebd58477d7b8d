"""SQLite state (WAL, one serialised connection): a restarted emulator keeps instances and invocations."""
from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL, agent TEXT NOT NULL, data TEXT NOT NULL,
    init_pid INTEGER, init_start TEXT);
CREATE INDEX IF NOT EXISTS instances_region ON instances(region);
CREATE TABLE IF NOT EXISTS invocations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL, kind TEXT NOT NULL, region TEXT NOT NULL,
    data TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS invocation_tags (
    invoke_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS invocation_tags_pair ON invocation_tags(key, value);
CREATE TABLE IF NOT EXISTS results (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    invoke_id TEXT NOT NULL, instance_id TEXT NOT NULL, status TEXT NOT NULL,
    exit_code INTEGER NOT NULL DEFAULT 0, output BLOB NOT NULL DEFAULT x'', dropped INTEGER NOT NULL DEFAULT 0,
    error_code TEXT NOT NULL DEFAULT '', error_info TEXT NOT NULL DEFAULT '', repeats INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL, started REAL, updated REAL, finished REAL, stopped REAL,
    UNIQUE(invoke_id, instance_id));
CREATE INDEX IF NOT EXISTS results_instance ON results(instance_id);
-- The scheduler looks for Scheduled rows ten times a second, under the store's one lock: without this index
-- each look reads the whole table, outputs included, and a long session's table holds tens of thousands of rows.
CREATE INDEX IF NOT EXISTS results_status ON results(status);
CREATE TABLE IF NOT EXISTS history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    invoke_id TEXT NOT NULL, instance_id TEXT NOT NULL, status TEXT NOT NULL, exit_code INTEGER NOT NULL,
    output BLOB NOT NULL, dropped INTEGER NOT NULL, error_code TEXT NOT NULL, error_info TEXT NOT NULL,
    repeats INTEGER NOT NULL, started REAL, finished REAL, stopped REAL);
CREATE INDEX IF NOT EXISTS history_task ON history(invoke_id, instance_id);
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL, region TEXT NOT NULL, data TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, region TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
    UNIQUE(region, name));
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, region TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS parameters (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, region TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    data TEXT NOT NULL, UNIQUE(region, kind, name));
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT NOT NULL, action TEXT NOT NULL, hash TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY(token, action));
"""


class Store:
    """Thread-safe access to the state database; every statement runs under one lock (simple, fast enough)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group statements atomically (e.g. claim-then-update of a result row)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run one statement; returns the number of rows changed (used for compare-and-set updates)."""
        with self._lock:
            return self._conn.execute(sql, args).rowcount

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Bulk insert (seeding 10,000 instances must stay cheap)."""
        with self.transaction():
            self._conn.executemany(sql, rows)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """All rows as dicts."""
        with self._lock:
            return [dict(r) for r in self._conn.execute(sql, args).fetchall()]

    def one(self, sql: str, args: Sequence[Any] = ()) -> dict[str, Any] | None:
        """First row or None."""
        rows = self.query(sql, args)
        return rows[0] if rows else None

    def close(self) -> None:
        """Close the connection at shutdown."""
        with self._lock:
            self._conn.close()
