"""Errors of the queue: each message is one line naming the queue file, the item or
the setting, the bad value and what is allowed."""

from __future__ import annotations

__all__ = ["QueueBusy", "QueueError"]


class QueueError(Exception):
    """A queue operation refused (no such item, an item that cannot be edited, a bad
    setting, a file that is not a queue): nothing was changed."""


class QueueBusy(QueueError):
    """Another runner holds the queue's lock."""
