"""A lower disk priority: transfer threads in Linux's idle I/O class, as ``ionice -p``
reads it (``ioprio_get``), and back to the default class when it is lifted."""

from __future__ import annotations

import platform

import pytest

from backup_store.transfer.priority import (
    IOPRIO_CLASS_IDLE,
    IOPRIO_CLASS_NONE,
    disk_priority_class,
    lower_disk_priority,
)
from backup_store.transfer.threads import in_transfer_thread

pytestmark = pytest.mark.skipif(platform.system() != "Linux", reason="ioprio is Linux's")


async def test_transfer_threads_run_in_the_idle_class_when_asked() -> None:
    assert await in_transfer_thread(lambda _stop: disk_priority_class()) == IOPRIO_CLASS_NONE
    try:
        assert lower_disk_priority() is True
        classes = [await in_transfer_thread(lambda _stop: disk_priority_class()) for _ in range(3)]
        assert classes == [IOPRIO_CLASS_IDLE] * 3
    finally:
        lower_disk_priority(False)
    assert await in_transfer_thread(lambda _stop: disk_priority_class()) == IOPRIO_CLASS_NONE
