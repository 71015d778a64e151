"""Helpers for tapeflow's own tests (not part of the public API)."""
