"""Tools over the inspection contract (``InspectableStore``): verify, migrate, retention, analyze.

:mod:`~backup_store.tools.verify` checks a store's backups against their integrity
records, :mod:`~backup_store.tools.migrate` copies backups between stores,
:mod:`~backup_store.tools.retention` plans which backups a retention policy keeps,
and :mod:`~backup_store.tools.analyze` measures what a store guarantees.
"""
