"""What the three emulators have in common: lifecycle, port retries, bucket naming."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, Self, TypeVar

import httpx

from testbed.emulators._process import (
    LOCALHOST,
    EmulatorError,
    ManagedProcess,
    exempt_localhost_from_proxies,
)

if TYPE_CHECKING:
    from obstore.store import AzureStore, ClientConfig, GCSStore, S3Store

BackendKind = Literal["s3", "azure", "gcs"]

# Emulators still running when the interpreter exits (a fixture teardown that never ran)
# are stopped here; the kernel-level parent-death signal covers harder deaths.
_LIVE: weakref.WeakSet[Emulator[Any]] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for emulator in list(_LIVE):
        emulator.stop()


_PORT_CLASH = re.compile(r"address already in use|EADDRINUSE|port is already", re.IGNORECASE)


def unique_bucket_name(hint: str = "") -> str:
    """A fresh name valid as an S3 bucket, an Azure container and a GCS bucket.

    Lowercase letters, digits and single hyphens, 3..63 characters, starting and ending with
    a letter or digit. ``hint`` (e.g. the test name) is kept, shortened, for readability.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-")
    suffix = uuid.uuid4().hex[:12]
    return f"t-{slug}-{suffix}" if slug else f"t-{suffix}"


class EmulatedBucket(Protocol):
    """A fresh bucket/container inside a running emulator, and how obstore reaches it."""

    @property
    def kind(self) -> BackendKind: ...

    @property
    def name(self) -> str: ...

    @property
    def url(self) -> str:
        """The bucket's well-known URL (``s3://name``, ``az://name``, ``gs://name``)."""
        ...

    @property
    def config(self) -> Mapping[str, Any]:
        """obstore config keys for this bucket (an S3Config, AzureConfig or GCSConfig)."""
        ...

    @property
    def client_options(self) -> ClientConfig: ...

    def store(self, *, prefix: str | None = None) -> S3Store | AzureStore | GCSStore: ...


BucketT = TypeVar("BucketT", bound=EmulatedBucket)


class LocalBucket:
    """What every emulated bucket shares: plain HTTP to 127.0.0.1, and its obstore store
    built from its ``config`` by the obstore class named ``store_type``."""

    store_type: ClassVar[str]
    config: Any

    @property
    def client_options(self) -> ClientConfig:
        return {"allow_http": True}

    def store(self, *, prefix: str | None = None) -> S3Store | AzureStore | GCSStore:
        import obstore.store

        store_class = getattr(obstore.store, self.store_type)
        store: S3Store | AzureStore | GCSStore = store_class(
            prefix=prefix, config=self.config, client_options=self.client_options
        )
        return store


def check_created(response: httpx.Response, expected: int, what: str) -> None:
    """Raise :class:`EmulatorError` naming ``what`` unless the answer is ``expected``."""
    if response.status_code != expected:
        raise EmulatorError(f"creating {what} failed: {response.status_code} {response.text}")


class Emulator(ABC, Generic[BucketT]):
    """A storage emulator run as local processes on 127.0.0.1, on ports picked free.

    ``start()`` installs the emulator if needed, starts it, and returns once it answers
    HTTP (polling, no fixed sleeps); it raises :class:`EmulatorError` with the emulator's
    log otherwise. ``stop()`` is idempotent. Also usable as a context manager.

    ``start()`` also adds 127.0.0.1/localhost to ``NO_PROXY`` when a proxy variable is
    set (obstore would otherwise send its requests for the emulators to the proxy).

    On Linux the processes get SIGTERM when the thread that started them dies, so start
    emulators from the main thread (as pytest fixtures do).
    """

    kind: ClassVar[BackendKind]
    START_ATTEMPTS: ClassVar[int] = 3

    def __init__(self, *, host: str = LOCALHOST, startup_timeout: float = 60.0) -> None:
        self.host = host
        self.startup_timeout = startup_timeout
        self._processes: list[ManagedProcess] = []
        self._log_dir: Path | None = None
        self._endpoint: str | None = None
        self._lock = threading.Lock()
        self._attempt = 0

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._endpoint is not None

    @property
    def endpoint(self) -> str:
        """Base URL clients use, e.g. ``http://127.0.0.1:43123``."""
        if self._endpoint is None:
            raise EmulatorError(f"{type(self).__name__} is not started")
        return self._endpoint

    @property
    def log_dir(self) -> Path:
        if self._log_dir is None:
            raise EmulatorError(f"{type(self).__name__} is not started")
        return self._log_dir

    def start(self) -> Self:
        with self._lock:
            if self._endpoint is not None:
                return self
            exempt_localhost_from_proxies()
            self._install()
            self._log_dir = Path(tempfile.mkdtemp(prefix=f"emulator-{self.kind}-"))
            errors: list[str] = []
            for attempt in range(1, self.START_ATTEMPTS + 1):
                self._attempt = attempt
                try:
                    self._endpoint = self._launch()
                except EmulatorError as exc:
                    self._stop_processes()
                    errors.append(f"attempt {attempt}: {exc}")
                    # Another process may have taken the free port we picked: retry on a
                    # new one. Anything else would fail the same way again.
                    if _PORT_CLASH.search(str(exc)):
                        continue
                    break
                _LIVE.add(self)
                return self
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
            raise EmulatorError(f"{type(self).__name__} failed to start:\n" + "\n\n".join(errors))

    def stop(self) -> None:
        with self._lock:
            self._stop_processes()
            self._endpoint = None
            _LIVE.discard(self)
            if self._log_dir is not None:
                shutil.rmtree(self._log_dir, ignore_errors=True)
                self._log_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """The process ids of the emulator's running processes (benchmarks measure
        their CPU time)."""
        return [p.pid for p in self._processes if p.pid is not None]

    def logs(self) -> str:
        """Tail of each process's log, for failure messages."""
        return "\n".join(f"== {p.name} ==\n{p.log_tail()}" for p in self._processes)

    def _spawn(self, name: str, argv: list[str], **kwargs: Any) -> ManagedProcess:
        log_path = self.log_dir / f"{name}-{self._attempt}.log"
        proc = ManagedProcess(name, argv, log_path=log_path, **kwargs)
        self._processes.append(proc)
        proc.start()
        return proc

    def _stop_processes(self) -> None:
        # Reverse order: fronting proxies before the servers behind them.
        for proc in reversed(self._processes):
            proc.stop()
        self._processes.clear()

    # -- per emulator ----------------------------------------------------------------------

    @abstractmethod
    def _install(self) -> None:
        """Install the emulator if it is missing (or raise EmulatorInstallError)."""

    @abstractmethod
    def _launch(self) -> str:
        """Start the processes on fresh ports, wait until ready, return the endpoint."""

    @abstractmethod
    def create_bucket(self, name: str | None = None) -> BucketT:
        """Create a new empty bucket/container (a unique name if none is given)."""
