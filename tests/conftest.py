"""Test session set-up: the storage emulators' fixtures."""

pytest_plugins = ["tests.emulators.fixtures"]
