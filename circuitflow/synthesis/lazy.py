"""Defer matplotlib.pyplot in the processes that import NeuroTS (imported for that side effect, first).

diameter-synthesis, which NeuroTS imports, imports matplotlib.pyplot at module level for plots that
synthesis never draws; that import is about a quarter of NeuroTS' start-up (0.3 s of CPU per job here).
Not in the package's __init__: finding pyplot imports matplotlib itself (0.2 s), which processes that
never grow a cell (Snakemake parsing the Snakefile, the prune jobs) should not pay.
"""

import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """A module whose code runs on the first access to an attribute it does not have yet.

    Unlike importlib.util.LazyLoader, whose module loads on any attribute access, the module's
    metadata (__spec__, __name__, __file__, ...) does not load it: `import x.y as z` reads
    `__spec__` (CPython's import_ensure_initialized), which with LazyLoader ran pyplot at once.
    """

    def __getattr__(self, attr: str):
        self.__class__ = types.ModuleType  # before running the code: its own lookups see a plain module
        self.__spec__.loader.exec_module(self)
        return getattr(self, attr)


def _defer_import(name: str) -> None:
    """Make `import name` bind a module that executes on its first use (not on the import).

    Nothing changes for code that does use it: the module loads, whole, when first touched.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module


_defer_import("matplotlib.pyplot")
