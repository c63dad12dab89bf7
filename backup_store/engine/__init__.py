"""The engine: :class:`ObjectBackupStore`, Zeebe's verbs over one object I/O seam.

One module per verb, each a set of functions over one
:class:`~backup_store.engine.context.StoreContext`: :mod:`.save` (save, accept,
write a backup), :mod:`.restore`, :mod:`.delete` (delete, mark failed),
:mod:`.listing`, :mod:`.inspect` (what tools read); :mod:`.manifests` holds the
manifest steps they share and the one compare-and-swap loop; :mod:`.ownership` the
store-kind marker; :mod:`.store` only wires them.
"""

from backup_store.engine.store import (
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_UPLOAD_MEMORY,
    ObjectBackupStore,
)

__all__ = ["DEFAULT_MAX_CONCURRENCY", "DEFAULT_UPLOAD_MEMORY", "ObjectBackupStore"]
