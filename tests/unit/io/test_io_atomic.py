"""io.atomic: outputs appear under their name only when complete; a failed write leaves nothing behind."""

from __future__ import annotations

import h5py
import pytest

from circuitflow.io.atomic import atomic_h5, atomic_path, tmp_name, write_json, write_text


def test_tmp_name_is_hidden_next_to_the_file_and_keeps_its_suffix(tmp_path):
    tmp = tmp_name(tmp_path / "cells.h5")
    assert tmp.parent == tmp_path and tmp.name.startswith(".cells.tmp-") and tmp.suffix == ".h5"


def test_success_renames_into_place(tmp_path):
    out = tmp_path / "sub" / "a.txt"
    with atomic_path(out) as tmp:
        tmp.write_text("done")
        assert not out.exists()
    assert out.read_text() == "done" and sorted(p.name for p in out.parent.iterdir()) == ["a.txt"]
    write_text(out, "again")
    assert out.read_text() == "again"


def test_failure_keeps_the_old_file_and_removes_the_partial_one(tmp_path):
    out = tmp_path / "a.h5"
    with atomic_h5(out) as f:
        f["x"] = [1, 2]
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_h5(out, track_order=True) as f:
            f["x"] = [3]
            raise RuntimeError("killed")
    with h5py.File(out) as f:
        assert f["x"][()].tolist() == [1, 2]
    assert [p.name for p in tmp_path.iterdir()] == ["a.h5"]


def test_write_json_keeps_or_sorts_key_order(tmp_path):
    data = {"b": 1, "a": [1.5, "x"]}
    write_json(tmp_path / "kept.json", data)
    write_json(tmp_path / "sorted.json", data, sort_keys=True)
    assert (tmp_path / "kept.json").read_text() == '{\n "b": 1,\n "a": [\n  1.5,\n  "x"\n ]\n}'
    assert (tmp_path / "sorted.json").read_text().index('"a"') < (tmp_path / "sorted.json").read_text().index('"b"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "sorted.json"]


# Issue 15, finding 2: a full disk must not leave a file that later runs trust.


def test_a_deferred_write_error_fails_naming_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    """ENOSPC reported only at fsync (delayed allocation, NFS): an OutputWriteError naming the output."""
    import errno
    import os

    from circuitflow.errors import CircuitflowError
    from circuitflow.io.atomic import OutputWriteError

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "parameters.json"
    with pytest.raises(OutputWriteError, match=r"parameters\.json: not written: No space left on device") as exc:
        write_json(out, {"a": 1})
    assert isinstance(exc.value, CircuitflowError) and "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_a_text_file_cut_short_is_not_renamed(tmp_path, monkeypatch):
    """A writer that loses bytes silently: the size check refuses the file."""
    from pathlib import Path

    from circuitflow.io.atomic import OutputWriteError

    real = Path.write_bytes
    monkeypatch.setattr(Path, "write_bytes", lambda self, data: real(self, data[: len(data) // 2]))
    with pytest.raises(OutputWriteError, match=r"a\.yaml: not written completely: 5 of 11 bytes on disk"):
        write_text(tmp_path / "a.yaml", "hello world")
    assert list(tmp_path.iterdir()) == []


def test_an_hdf5_file_cut_short_is_not_renamed(tmp_path):
    """HDF5 must read the file back before it is renamed (HDF5 checks its end-of-file address)."""
    import os

    from circuitflow.io.atomic import OutputWriteError, check_h5

    out = tmp_path / "cells.h5"
    with pytest.raises(OutputWriteError, match=r"cells\.h5: not written completely: HDF5 cannot read it back"):
        with atomic_path(out, check=check_h5) as tmp:
            with h5py.File(tmp, "w") as f:
                f["x"] = list(range(10000))
            os.truncate(tmp, os.path.getsize(tmp) // 2)
    assert list(tmp_path.iterdir()) == []


def test_files_state_changes_with_an_edit_a_deletion_or_a_new_file(tmp_path):
    """io.listing.files_state: what the prune and detect rules take as a param for the files they read."""
    import os

    from circuitflow.io.listing import files_state

    (tmp_path / "a").mkdir()
    files = [tmp_path / "a" / f"f{i}.swc" for i in range(3)] + [tmp_path / "g.h5"]
    for f in files:
        f.write_text("x")
    state = files_state(files)
    assert files_state(reversed(files)) == state and files_state(map(str, files)) == state
    os.utime(files[1], ns=(1, 1))
    edited = files_state(files)
    assert edited != state
    files[3].unlink()
    assert files_state(files) not in (state, edited)
    assert files_state(files[:3]) != files_state(files[:2])
