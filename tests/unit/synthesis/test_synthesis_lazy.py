"""synthesis.lazy: deferred modules run on first use, parents first, once; a chunk job leaves the modules that
synthesis does not use unloaded (scikit-learn, tmd's readers, asyncio, matplotlib, jsonschema, pandas, voxcell)
and the rare paths that use them still work."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

from circuitflow.synthesis import lazy

PACKAGE = {
    "lz_pkg/__init__.py": "import lz_log\nlz_log.ran.append('lz_pkg')\nVALUE = 1\nfrom lz_pkg import inner\n",
    "lz_pkg/inner.py": "import lz_log\nlz_log.ran.append('lz_pkg.inner')\n",
    "lz_pkg/other.py": "import lz_log\nlz_log.ran.append('lz_pkg.other')\n",
    "lz_pkg/alone.py": "import lz_log\nlz_log.ran.append('lz_pkg.alone')\nX = 2\n",
    "lz_pkg/broken.py": "raise ImportError('broken on purpose')\n",
    "lz_log.py": "ran = []\n",
}


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """A package whose modules log when they run, deferred; yields the log."""
    for name, text in PACKAGE.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(lazy, "ALONE", lazy.ALONE | {"lz_pkg.alone"})
    import lz_log

    lazy._defer_import("lz_pkg")
    yield lz_log.ran
    lazy._RAN.clear()
    for name in [n for n in sys.modules if n.split(".")[0] in ("lz_pkg", "lz_log")]:
        del sys.modules[name]


def test_a_deferred_package_runs_on_first_use_once(pkg):
    import lz_pkg

    assert pkg == [] and type(lz_pkg).__name__ == "_Deferred" and lz_pkg.__name__ == "lz_pkg"
    assert lz_pkg.VALUE == 1 and lz_pkg.VALUE == 1
    assert pkg == ["lz_pkg", "lz_pkg.inner"] and type(lz_pkg) is type(os)


def test_a_submodule_import_runs_the_package_first_and_each_module_once(pkg):
    import lz_pkg.other

    assert pkg == ["lz_pkg", "lz_pkg.inner", "lz_pkg.other"]
    import lz_pkg.inner  # the package imported it while running: the same module, not run again

    assert pkg == ["lz_pkg", "lz_pkg.inner", "lz_pkg.other"]
    assert lz_pkg.inner is sys.modules["lz_pkg.inner"] and lz_pkg.inner.__spec__.name == "lz_pkg.inner"
    assert lz_pkg.inner.__spec__.origin.endswith("inner.py")


def test_a_submodule_the_package_imports_is_run_once_when_imported_first(pkg):
    """The import system would run a module that appears in sys.modules while its spec is found a second time."""
    import lz_pkg.inner

    assert pkg == ["lz_pkg", "lz_pkg.inner"] and lz_pkg.inner is sys.modules["lz_pkg.inner"]
    assert lz_pkg.inner.__spec__.origin.endswith("inner.py") and type(lz_pkg) is type(os)
    from lz_pkg import inner

    assert inner is lz_pkg.inner and pkg == ["lz_pkg", "lz_pkg.inner"]


def test_finding_a_submodule_spec_then_importing_it_runs_it_once(pkg):
    spec = importlib.util.find_spec("lz_pkg.inner")
    assert spec.name == "lz_pkg.inner" and pkg == ["lz_pkg", "lz_pkg.inner"]
    import lz_pkg.inner

    assert pkg == ["lz_pkg", "lz_pkg.inner"] and sys.modules["lz_pkg.inner"] is lz_pkg.inner and not lazy._RAN


def test_modules_listed_alone_import_without_their_package(pkg):
    from lz_pkg.alone import X

    assert X == 2 and pkg == ["lz_pkg.alone"]
    import lz_pkg

    assert lz_pkg.alone.X == 2 and pkg == ["lz_pkg.alone"]  # set on the package by the import: no run
    assert lz_pkg.VALUE == 1 and pkg == ["lz_pkg.alone", "lz_pkg", "lz_pkg.inner"]


def test_a_deferred_submodule_runs_its_parent_first(pkg):
    lazy._defer_import("lz_pkg.other")
    import lz_pkg.other as other

    assert pkg == [] and type(other).__name__ == "_Deferred"
    with pytest.raises(AttributeError):
        other.missing
    assert pkg == ["lz_pkg", "lz_pkg.inner", "lz_pkg.other"]


def test_a_failing_deferred_module_is_removed_as_a_failed_import_is(pkg):
    lazy._defer_import("lz_pkg.broken")
    with pytest.raises(ImportError, match="broken on purpose"):
        sys.modules["lz_pkg.broken"].anything
    assert "lz_pkg.broken" not in sys.modules


def test_reload_still_reruns_a_submodule(pkg):
    import lz_pkg.other

    importlib.reload(lz_pkg.other)
    assert pkg == ["lz_pkg", "lz_pkg.inner", "lz_pkg.other", "lz_pkg.other"]


def run_python(code: str) -> None:
    """Run `code` in a fresh interpreter with this tree first on the path."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=True, env=env)


HEAVY = ("sklearn", "tmd.io", "tmd.Tree", "asyncio", "cached_property", "neuroc.scale")


def test_a_chunk_job_leaves_unused_heavy_modules_unloaded():
    """What a chunk job imports (and what one cell grows with) does not load scikit-learn, tmd's readers,
    asyncio or matplotlib."""
    run_python(
        f"""
        import sys
        import circuitflow.synthesis.chunk
        from circuitflow.synthesis import engine, grow
        import tmd.Topology.analysis
        loaded = [m for m in {HEAVY!r} if m in sys.modules]
        assert not loaded, loaded
        for name in ("tmd", "matplotlib", "matplotlib.pyplot", "jsonschema"):
            assert type(sys.modules[name]).__name__ == "_Deferred", name
        """
    )


def test_a_chunk_job_grows_its_cells_without_running_pandas_voxcell_or_scipy_stats(tmp_path):
    """A chunk job without axon donors reads its rows as numpy columns and smooths apical barcodes with
    synthesis/kde.py: it grows and writes its cells (with and without apical dendrites) while pandas, voxcell
    and scipy.stats stay deferred, and they still run on first use."""
    from circuitflow.example import make_example
    from circuitflow.synthesis.atlas import cache_atlas

    make_example(tmp_path, n_cells=8)
    section = {
        "atlas": f"{tmp_path}/atlas",
        "input_cells": f"{tmp_path}/cells.h5",
        "region_structure": f"{tmp_path}/region_structure.yaml",
        "tmd_parameters": f"{tmp_path}/tmd_parameters.json",
        "tmd_distributions": f"{tmp_path}/tmd_distributions.json",
        "morph_axon": None,
        "base_morph_dir": None,
        "synthesize_axons": False,
        "max_drop_ratio": 0.0,
    }
    options = {"out_morph_ext": ["asc"], "seed": 0, "min_hard_scale": 0.2}
    cache = tmp_path / "atlas_cache.h5"
    cache_atlas(section["input_cells"], section["atlas"], section["region_structure"], 25, 5000, str(cache))
    run_python(
        f"""
        import json, sys
        from circuitflow.synthesis.chunk import synthesize_chunk_job
        synthesize_chunk_job({section!r}, 0, (0, 8), {str(cache)!r}, {options!r}, {str(tmp_path / "m")!r},
                             {str(tmp_path / "c.json")!r})
        cells = json.load(open({str(tmp_path / "c.json")!r}))["cells"]
        assert [c["error"] for c in cells] == [None] * 8, cells
        assert {{bool(c["apical_points"]) for c in cells}} == {{True, False}}
        for name in ("pandas", "voxcell", "scipy.stats"):
            assert type(sys.modules[name]).__name__ == "_Deferred", name
        from scipy import stats
        assert stats.norm.cdf(0.0) == 0.5 and type(sys.modules["scipy.stats"]) is type(sys)
        import pandas as pd
        assert pd.DataFrame({{"a": [1]}}).shape == (1, 1) and type(sys.modules["pandas"]) is type(sys)
        from voxcell import RegionMap
        assert type(sys.modules["voxcell"]) is type(sys) and RegionMap.__module__.startswith("voxcell")
        """
    )


def test_ready_to_grow_loads_the_kernels_and_turns_collection_back_on_past_the_imports():
    """A chunk job's script imports with garbage collection off; before the first cell, ready_to_grow loads the
    compiled engine's kernels, freezes what the imports made and turns collection back on. A process that
    never turned collection off (a test, a notebook) keeps its collector as it was."""
    run_python(
        """
        import gc, sys
        gc.disable()
        from circuitflow.synthesis import chunk
        assert "circuitflow.synthesis.kernels" not in sys.modules
        chunk.ready_to_grow("compiled")
        assert "circuitflow.synthesis.kernels" in sys.modules
        assert gc.isenabled() and gc.get_freeze_count() > 10000, gc.get_freeze_count()
        """
    )
    run_python(
        """
        import gc, sys
        from circuitflow.synthesis import chunk
        chunk.ready_to_grow("neurots")
        assert "circuitflow.synthesis.kernels" not in sys.modules
        assert gc.isenabled() and gc.get_freeze_count() == 0
        """
    )


def test_the_rare_paths_load_what_they_need():
    """scikit-learn's PCA for inputs the deterministic PCA leaves to it, neuroc's scaling jitter, tmd's readers,
    NeuroTS' validator (jsonschema) and pyplot still work after a chunk job's imports."""
    run_python(
        """
        import sys
        import numpy as np
        import circuitflow.synthesis.chunk
        from circuitflow.synthesis import grow
        axis = grow.first_principal_axis(np.array([[0.0, 1.0], [2.0, 3.0]], dtype=np.float32))
        assert "sklearn" in sys.modules and axis.shape == (2,)
        import tmd
        assert callable(tmd.io.load_neuron_from_morphio) and type(tmd) is type(sys)
        from neuroc.scale import ScaleParameters
        from neurots import validator
        try:
            validator.validate_neuron_params({"basal_dendrite": {}})
        except validator.ValidationError:
            pass
        else:
            raise AssertionError("NeuroTS' validator accepted bad parameters")
        assert type(sys.modules["jsonschema"]) is type(sys)
        import matplotlib.pyplot as plt
        assert callable(plt.figure) and plt is sys.modules["matplotlib.pyplot"]
        """
    )


def test_first_principal_axis_fallback_equals_scikit_learn():
    """The fallback (scikit-learn imported where used) still gives scikit-learn's numbers."""
    from sklearn.decomposition import PCA

    from circuitflow.synthesis.grow import first_principal_axis

    x = np.random.default_rng(3).normal(size=(7, 3)).astype(np.float32)
    np.testing.assert_array_equal(first_principal_axis(x), PCA(n_components=1, svd_solver="full").fit(x).components_[0])


TMD_NAMESPACE = (
    "import sys, tmd\n"
    "print(sorted((k, getattr(v, '__name__', type(v).__name__)) for k, v in vars(tmd).items() if k[:2] != '__'))"
)


@functools.lru_cache(maxsize=None)
def tmd_namespace(first: str) -> str:
    """The names tmd binds (and what they are) after `first` in a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", f"{first}\n{TMD_NAMESPACE}"], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("first", ["import tmd.Tree.Tree", "from tmd.io.io import load_neuron_from_morphio"])
def test_tmd_loaded_by_a_submodule_import_has_the_namespace_of_a_plain_import(first):
    """Whichever way tmd's __init__ ends up running, the package binds the same names (its __init__ rebinds
    tmd.Tree and tmd.io to modules other than the subpackages an import would set)."""
    plain = tmd_namespace("pass")
    assert tmd_namespace(f"import circuitflow.synthesis.lazy\n{first}") == plain
    assert "('Tree', 'tmd.Tree.Tree')" in plain and "('io', 'tmd.io.io')" in plain


def package_namespace(package: str, code: str) -> str:
    """The names `package` binds (and what they are) after `code` in a fresh interpreter, the package run."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    show = (
        f"import {package}\nhasattr({package}, 'x_no_such_name')  # runs a deferred package, as any use does\n"
        f"print(sorted((k, getattr(v, '__name__', type(v).__name__)) for k, v in vars({package}).items() "
        "if k[:2] != '__'))"
    )
    return subprocess.run(
        [sys.executable, "-c", f"{code}\n{show}"], env=env, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize(
    "first",
    [
        "import neurots.utils, neurots.validator\nfrom neurots.generate.orientations import check_3d_angles",
        "from neurots.utils import NeuroTSError\nfrom neurots.generate.grower import NeuronGrower",
        "import neurots.validator\nfrom neurots import NeuronGrower",
    ],
)
def test_neurots_after_modules_loaded_alone_has_the_namespace_of_a_plain_import(first):
    """Planning loads neurots.utils, neurots.validator and neurots.generate.orientations without the package's
    __init__ (NeuroTS' growers, tmd, scipy.stats); the package that runs later binds what a plain import binds."""
    deferred = package_namespace("neurots", f"import circuitflow.synthesis.lazy\n{first}")
    assert deferred == package_namespace("neurots", first)
    assert "('NeuronGrower', 'NeuronGrower')" in deferred and "('utils', 'neurots.utils')" in deferred


def test_planning_modules_of_neurots_load_alone():
    run_python(
        """
        import sys
        import circuitflow.synthesis.lazy
        import neurots.validator
        from neurots.generate.orientations import check_3d_angles
        from neurots.utils import convert_from_legacy_neurite_type
        assert type(sys.modules["neurots"]).__name__ == "_Deferred"
        wanted = ("neurots.astrocyte", "neurots.generate.grower", "scipy.stats")
        loaded = [m for m in wanted if type(sys.modules.get(m)) is type(sys)]  # (a deferred one has not run)
        assert not loaded, loaded
        """
    )


def test_pearsonr_bound_before_scipy_stats_runs_calls_the_real_one():
    """diameter-synthesis binds scipy.stats.pearsonr at import: what it binds while scipy.stats is deferred runs
    scipy.stats on its first call and returns scipy's result; scipy.stats' own pearsonr is then scipy's."""
    run_python(
        """
        import sys
        import circuitflow.synthesis.chunk
        from diameter_synthesis import simpler_diametrizer
        assert type(sys.modules["scipy.stats"]).__name__ == "_Deferred"
        result = simpler_diametrizer.pearsonr([1.0, 2.0, 3.0, 4.5], [2.0, 4.1, 5.9, 9.0])
        from scipy import stats
        assert type(sys.modules["scipy.stats"]) is type(sys)
        assert stats.pearsonr.__module__ == "scipy.stats._stats_py"
        expected = stats.pearsonr([1.0, 2.0, 3.0, 4.5], [2.0, 4.1, 5.9, 9.0])
        assert (result.statistic, result.pvalue) == (expected.statistic, expected.pvalue)
        """
    )
