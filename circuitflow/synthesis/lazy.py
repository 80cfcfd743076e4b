"""Defer the modules that NeuroTS imports but synthesis never uses (imported for that side effect, first).

- matplotlib and matplotlib.pyplot: diameter-synthesis imports pyplot at module level for plots that
  synthesis never draws (0.3 s of CPU per job here);
- the tmd package's __init__: NeuroTS' astrocyte modules, which `import neurots` always runs, import
  two functions of tmd.Topology, and with them tmd's __init__, which loads its readers and Tree class,
  and with those scikit-learn (PCA) and asyncio (the cached_property package): 0.25 s. Synthesis uses
  only tmd.Topology (barcodes, the apical point's smoothed density), which imports numpy and scipy alone;
- jsonschema: NeuroTS' validator imports it, for parameter checks that growth skips (skip_preprocessing;
  the prepare step validates): 0.04 s;
- pandas and voxcell (which imports pandas): diameter-synthesis' utils and circuitflow's atlas, cells and
  prepare modules import them at module level, for tables that planning and the atlas cache job build; a
  chunk job reads its rows as numpy columns (0.2 s of CPU and 32 MB per job). A chunk job with axon donors
  loads pandas to read the donor table;
- the neurots package's __init__: it imports NeuroTS' growers, and with its astrocyte modules tmd and
  scipy.stats (0.5 s). Planning needs only neurots.utils (legacy neurite type names), neurots.validator and
  neurots.generate.orientations (parameter checks): these load without it. A chunk job runs it as before.
- scipy.stats (through tmd.Topology and diameter-synthesis): 0.3 s of CPU and 35 MB per chunk job. Growth
  uses only its gaussian_kde (tmd's apical point search), which synthesis/kde.py computes without it, and
  diameter-synthesis binds `pearsonr` at import for a diametrizer region-grower does not call: that name is
  bound to a function that runs scipy.stats on its first call.
Not in the package's __init__: finding these specs costs a little, which processes that never grow a cell
(Snakemake parsing the Snakefile, the prune jobs) should not pay.

A deferred module runs, whole, on the first access to an attribute it does not have yet, or when a
submodule other than those listed in ALONE is imported; its parent package runs before it, as in a plain
import. Nothing changes for code that does use it.
"""

import importlib.util
import sys
import types

import scipy  # noqa: F401  (its __init__ is light; deferring scipy.stats below leaves the package alone)

#: Submodules that may be imported before their deferred package runs: they import numpy, scipy, jsonschema,
#: neurom and each other only (not their package's __init__'s modules), so the package's code is not needed first.
ALONE = frozenset(
    {
        "tmd.Topology",
        "tmd.Topology.analysis",
        "tmd.Topology.statistics",
        "tmd.Topology.transformations",
        "tmd.Topology.vectorizations",
        "neurots.generate",  # (empty)
        "neurots.generate.orientations",
        "neurots.morphmath",  # (empty)
        "neurots.morphmath.rotation",
        "neurots.morphmath.sample",
        "neurots.morphmath.utils",
        "neurots.utils",
        "neurots.validator",
    }
)


class _Deferred(types.ModuleType):
    """A module whose code runs on the first access to an attribute it does not have yet.

    Unlike importlib.util.LazyLoader, whose module loads on any attribute access, the module's
    metadata (__spec__, __name__, __file__, __path__, ...) and the submodules already set on it do not
    load it: `import x.y as z` reads `__spec__` (CPython's import_ensure_initialized), which with
    LazyLoader ran pyplot at once.
    """

    def __getattr__(self, attr: str):
        _load(self)
        return getattr(self, attr)


def _load(module: types.ModuleType) -> None:
    """Run a deferred module's code (its deferred parent package's first), once."""
    if type(module) is not _Deferred:
        return
    module.__class__ = types.ModuleType  # before running the code: its own lookups see a plain module
    parent = sys.modules.get(module.__spec__.parent)
    if parent is not None and parent is not module:
        _load(parent)
    try:
        module.__spec__.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module.__name__, None)  # as a failed plain import leaves it
        raise


#: Modules that running a deferred package imported, taken out of sys.modules until the import that ran the
#: package puts them back (see _ParentsFirst).
_RAN: dict = {}


class _Imported:
    """The loader of a module that running its deferred parent package imported: the import returns it as it is,
    and leaves the parent's attribute as the package left it (a plain import finds the module in sys.modules
    once the parent ran, and sets nothing; tmd's __init__ rebinds tmd.Tree to a class)."""

    def __init__(self, name: str):
        self.name = name

    def create_module(self, spec):
        module = _RAN.pop(self.name)
        parent = sys.modules[self.name.rpartition(".")[0]]
        if type(parent) is types.ModuleType:  # (a package that set its own module class keeps it)
            parent.__dict__[_KeepOnce.KEY] = self.name.rpartition(".")[2]
            parent.__class__ = _KeepOnce  # the import sets the parent's attribute next
        self.spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.spec  # the import system set it to the spec of this loader


class _KeepOnce(types.ModuleType):
    """A module whose next setting of one attribute (named in its __dict__ under KEY) is skipped, once."""

    KEY = "__circuitflow_keep__"

    def __setattr__(self, name: str, value) -> None:
        keep = self.__dict__.pop(self.KEY, None)
        object.__setattr__(self, "__class__", types.ModuleType)
        if name != keep:
            setattr(self, name, value)


class _ParentsFirst:
    """A meta path finder: before a submodule of a deferred package is imported, it runs that package, as a
    plain import would have (unless the submodule is in ALONE); it finds only what that package imported.

    Such a module is taken out of sys.modules until the import puts it back through _Imported: the import
    system (importlib._bootstrap._find_spec) would run a module that appeared in sys.modules while its spec was
    being found a second time, from that module's own spec."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in _RAN:
            return importlib.util.spec_from_loader(name, _Imported(name))
        if name in ALONE or "." not in name or name in sys.modules:  # (in sys.modules: importlib.reload)
            return None
        parts = name.split(".")
        for i in range(1, len(parts)):
            _load(sys.modules.get(".".join(parts[:i])))
        if name not in sys.modules:
            return None
        _RAN[name] = sys.modules.pop(name)
        return importlib.util.spec_from_loader(name, _Imported(name))


def _find_spec(name: str):
    """The spec of module `name`, found without running it or its parent packages."""
    parent, _, _ = name.rpartition(".")
    if not parent:
        return importlib.util.find_spec(name)
    parent_module = sys.modules.get(parent)
    if parent_module is None:
        return None
    for finder in sys.meta_path:
        if isinstance(finder, _ParentsFirst):
            continue
        find = getattr(finder, "find_spec", None)
        spec = find(name, parent_module.__path__) if find else None
        if spec is not None:
            return spec
    return None


def _defer_import(name: str) -> None:
    """Make `import name` bind a module that executes on its first use (not on the import); defer its parent
    packages too if they are not imported yet."""
    if name in sys.modules:
        return
    parent, _, child = name.rpartition(".")
    if parent:
        _defer_import(parent)
    spec = _find_spec(name)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _Deferred
    sys.modules[name] = module
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)  # as an import sets it; reading it does not load the parent


def _runs_on_call(name: str, attr: str):
    """A function standing for deferred module `name`'s `attr` (bound by name at import elsewhere): its first
    call runs the module, whose code binds the real `attr` in it, and every call calls that."""

    def call(*args, **kwargs):
        module = sys.modules[name]
        _load(module)
        return getattr(module, attr)(*args, **kwargs)

    call.__name__ = call.__qualname__ = attr
    call.__doc__ = f"{name}.{attr}, running {name} on the first call."
    return call


if not any(isinstance(finder, _ParentsFirst) for finder in sys.meta_path):
    sys.meta_path.insert(0, _ParentsFirst())
_defer_import("matplotlib.pyplot")
_defer_import("tmd")
_defer_import("jsonschema")
_defer_import("pandas")
_defer_import("voxcell")
_defer_import("neurots")
_defer_import("scipy.stats")
if type(sys.modules.get("scipy.stats")) is _Deferred:
    sys.modules["scipy.stats"].pearsonr = _runs_on_call("scipy.stats", "pearsonr")
