"""Fixtures for the hostile-server tests; the helpers themselves live in
hostilekit.py, which test modules import by that unique name (two folders'
conftest.py modules would shadow each other under one import name)."""

from hostilekit import pki, start, threaded  # noqa: F401

