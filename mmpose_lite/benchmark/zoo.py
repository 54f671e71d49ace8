"""The benchmark's former single module, kept as a short alias for its callers.

The benchmark now lives in :mod:`.entries` (the models), :mod:`.measure` and
:mod:`.latency` (the measurements), :mod:`.export` (onnxruntime sessions),
:mod:`.report` (table, CSV, plot) and :mod:`.cli` (``run``, ``main``).
"""
from .cli import main, run
from .entries import ENTRIES, QUICK, REFERENCE, Entry, config_entry, select, zoo_ap
from .measure import measure

__all__ = ['Entry', 'ENTRIES', 'QUICK', 'REFERENCE', 'select', 'config_entry', 'zoo_ap', 'measure', 'run', 'main']
