"""What the tests and the benchmarks share: the storage emulators (moto's S3 server,
Azurite, fake-gcs-server) run as local processes, stores opened on them, and a
store filled with many backups. Not shipped with backup-store."""
