"""The documented contracts: :class:`~.store.BackupStore` (Zeebe's verbs) and
:class:`~.inspectable.InspectableStore` (what tools, the service and front ends may call)."""
