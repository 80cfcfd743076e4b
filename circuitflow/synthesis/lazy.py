"""Defer matplotlib.pyplot in the processes that import NeuroTS (imported for that side effect, first).

diameter-synthesis, which NeuroTS imports, imports matplotlib.pyplot at module level for plots that
synthesis never draws; that import is about a quarter of NeuroTS' start-up (0.4 s per job here).
Not in the package's __init__: finding pyplot imports matplotlib itself (0.2 s), which processes that
never grow a cell (Snakemake parsing the Snakefile, the prune jobs) should not pay.
"""

import importlib.util
import sys


def _defer_import(name: str) -> None:
    """Make `import name` bind a module that executes on its first attribute access (stdlib LazyLoader).

    diameter-synthesis, which NeuroTS imports, imports matplotlib.pyplot at module level for plots that
    synthesis never draws; that import is about a quarter of NeuroTS' start-up (0.4 s per job here).
    Nothing changes for code that does use it: the module loads, whole, when first touched.
    """
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)


_defer_import("matplotlib.pyplot")
