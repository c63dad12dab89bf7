"""Helpers shared by the test modules (no tests here): stores, servers, CLI runs."""
