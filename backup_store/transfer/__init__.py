"""Streaming byte pipelines: read local files, hash, (de)compress, write local files.

A file moves through one transfer thread (:func:`in_transfer_thread`) that reads,
hashes, (de)compresses and writes it as blocking iterators of chunks of at most
:data:`CHUNK_SIZE` bytes: no thread hop per chunk, memory flat whatever the file
size. hashlib and zstd release the GIL on large buffers, so files progress in
parallel while the event loop stays responsive.

:mod:`.files` reads and writes local files, :mod:`.zstd` compresses,
:mod:`.threads` runs transfer threads, :mod:`.durability` makes files durable,
:mod:`.bandwidth` limits the bytes per second of a process.
"""

from backup_store.transfer.bandwidth import TokenBucket
from backup_store.transfer.durability import (
    SYNCFS,
    FolderSync,
    fsync_directory,
)
from backup_store.transfer.files import (
    CHUNK_SIZE,
    DIRECT_ALIGNMENT,
    DIRECT_WRITES_AFTER,
    Chunk,
    Digest,
    hashed,
    page_aligned_buffer,
    read_buffer,
    read_file,
    read_whole_file,
    source_size,
    write_chunks,
    write_file,
)
from backup_store.transfer.threads import (
    TransferCancelled,
    TransferControl,
    blocking,
    in_transfer_thread,
    iterate_in_thread,
    until_stopped,
)
from backup_store.transfer.zstd import (
    COMPRESSION_THRESHOLD,
    MIN_SAVING,
    StoredForm,
    ZstdFrameTracker,
    compress_if_smaller,
    decompress,
    decompress_zstd,
)

__all__ = [
    "CHUNK_SIZE",
    "COMPRESSION_THRESHOLD",
    "DIRECT_ALIGNMENT",
    "DIRECT_WRITES_AFTER",
    "MIN_SAVING",
    "SYNCFS",
    "Chunk",
    "Digest",
    "FolderSync",
    "StoredForm",
    "TokenBucket",
    "TransferCancelled",
    "TransferControl",
    "ZstdFrameTracker",
    "blocking",
    "compress_if_smaller",
    "decompress",
    "decompress_zstd",
    "fsync_directory",
    "hashed",
    "in_transfer_thread",
    "iterate_in_thread",
    "page_aligned_buffer",
    "read_buffer",
    "read_file",
    "read_whole_file",
    "source_size",
    "until_stopped",
    "write_chunks",
    "write_file",
]
