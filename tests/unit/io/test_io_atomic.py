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
