"""Every Python subprocess a test starts runs this first (tests/conftest.py puts this folder on PYTHONPATH): see
tier_guard.py."""

try:
    import tier_guard

    tier_guard.install()
except Exception:  # noqa: BLE001 -- a guard must never stop the program it watches
    pass
