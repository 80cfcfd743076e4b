"""io.morphology.write_morphology: a morphology file is renamed into place only once MorphIO reads it back whole
(issue 15, finding 2: MorphIO's asc/swc writers return without error on a full disk)."""

from __future__ import annotations

import os
from pathlib import Path

import morphio
import numpy as np
import pytest

from circuitflow.errors import CircuitflowError
from circuitflow.io.atomic import IncompleteWrite, OutputWriteError
from circuitflow.io.morphology import ASC_END, check_asc_end, write_morphology

REFERENCE_ASC = sorted((Path(__file__).parents[2] / "data/synthesis-column/expected").rglob("*.asc"))


def small_morphology() -> morphio.mut.Morphology:
    """A soma and a two-level basal tree."""
    morph = morphio.mut.Morphology()
    morph.soma.points = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    morph.soma.diameters = [1, 1, 1]
    points = np.column_stack([np.arange(50.0), np.zeros(50), np.zeros(50)])
    root = morph.append_root_section(
        morphio.PointLevel(points.tolist(), [1.0] * 50), morphio.SectionType.basal_dendrite
    )
    for side in (1, -1):
        child = np.column_stack([np.full(30, 49.0), side * np.arange(30.0), np.zeros(30)])
        root.append_section(morphio.PointLevel(child.tolist(), [0.5] * 30))
    return morph


class CutShort:
    """A morphology whose writer loses the end of the file and reports success, as MorphIO does on a full disk."""

    def __init__(self, morph, keep: float):
        self.morph, self.keep = morph, keep

    def as_immutable(self):
        return self.morph.as_immutable()

    def write(self, path: str) -> None:
        self.morph.write(path)
        os.truncate(path, int(os.path.getsize(path) * self.keep))


@pytest.mark.parametrize("ext", ["asc", "swc", "h5"])
@pytest.mark.parametrize("keep", [0.0, 0.6])
def test_a_file_cut_short_fails_naming_it_and_is_not_renamed(tmp_path, ext, keep):
    with pytest.raises(OutputWriteError, match=rf"m\.{ext}: not written completely") as exc:
        write_morphology(CutShort(small_morphology(), keep), tmp_path, "m", [ext])
    assert isinstance(exc.value, CircuitflowError) and "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_complete_files_are_written_unchanged(tmp_path):
    """The read-back check changes no byte: each file equals MorphIO's own write."""
    morph = small_morphology()
    paths = write_morphology(morph, tmp_path / "checked", "m", ["h5", "asc", "swc"])
    for path in paths:
        plain = tmp_path / f"plain{path.suffix}"
        morph.write(str(plain))
        if path.suffix == ".h5":
            np.testing.assert_array_equal(morphio.Morphology(str(path)).points, morphio.Morphology(str(plain)).points)
        else:
            assert path.read_bytes() == plain.read_bytes()
    assert sorted(p.name for p in (tmp_path / "checked").iterdir()) == ["m.asc", "m.h5", "m.swc"]


def test_a_full_disk_in_the_h5_writer_names_the_file(tmp_path, monkeypatch):
    """MorphIO's h5 writer raises RuntimeError('... Write failed') on a full disk: one line naming the output."""

    class Full:
        def as_immutable(self):
            return small_morphology().as_immutable()

        def write(self, path):
            open(path, "wb").close()
            raise RuntimeError(f"Failed to create file {path} (Low-level I/O) Write failed")

    with pytest.raises(OutputWriteError, match=r"/m\.h5: not written: Write failed"):
        write_morphology(Full(), tmp_path, "m", ["h5"])
    assert list(tmp_path.iterdir()) == []


def test_every_asc_cut_short_fails_the_end_check(tmp_path):
    """check_asc_end reads only the file's end: every strict prefix of MorphIO's asc output fails it (a full
    disk leaves a prefix), the whole file passes."""
    full = tmp_path / "full.asc"
    small_morphology().write(str(full))
    data = full.read_bytes()
    check_asc_end(full)
    for size in range(len(data) - 1, -1, -1):
        os.truncate(full, size)
        with pytest.raises(IncompleteWrite, match="MorphIO's closing line"):
            check_asc_end(full)


def test_grown_asc_files_end_with_the_only_signature_line(tmp_path):
    """What check_asc_end relies on, on grown cells: MorphIO writes its signature line last and nowhere else
    (so no prefix ends with it); a rewrite of each file passes the check, and cut short at each of its last 1,000
    bytes and at 200 random lengths it fails it."""
    rng = np.random.default_rng(0)
    assert len(REFERENCE_ASC) >= 10
    for i, path in enumerate(REFERENCE_ASC):
        (written,) = write_morphology(morphio.mut.Morphology(str(path)), tmp_path, f"m{i}", ["asc"])
        data = written.read_bytes()
        assert len(ASC_END.findall(data)) == 1 and data.count(b"; Created by MorphIO") == 1, path.name
        if i >= 3:
            continue
        sizes = sorted(set(range(len(data) - 1000, len(data))) | set(rng.integers(0, len(data), 200)), reverse=True)
        for size in sizes:
            os.truncate(written, size)
            with pytest.raises(IncompleteWrite):
                check_asc_end(written)


def test_swc_and_h5_are_still_read_back_whole(tmp_path, monkeypatch):
    """The end check is for asc only: a swc file that ends on a whole line but lost sections is caught by the
    read-back comparison."""

    class LosesABranch(CutShort):
        def write(self, path):
            self.morph.write(path)
            lines = Path(path).read_text().splitlines(keepends=True)
            Path(path).write_text("".join(lines[:-30]))

    with pytest.raises(OutputWriteError, match=r"m\.swc: not written completely: read back"):
        write_morphology(LosesABranch(small_morphology(), 1.0), tmp_path, "m", ["swc"])
    assert list(tmp_path.iterdir()) == []
