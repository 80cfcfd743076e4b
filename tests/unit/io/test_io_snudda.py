"""io.snudda's scalar reader: the low-level fast path for numbers gives what h5py's high-level API gives."""

import h5py
import numpy as np
import pytest

from circuitflow.io.snudda import SnuddaFormatError, read_scalar


@pytest.fixture
def h5(tmp_path):
    path = tmp_path / "meta.h5"
    with h5py.File(path, "w") as f:
        f["meta/hyper_voxel_id"] = np.int64(7)
        f["meta/voxel_size"] = 3e-6
        f["meta/simulation_origo"] = np.array([1.5, -2.0, 0.25])
        f["meta/small"] = np.int32(-3)
        f["meta/config_file"] = "network-config.json"
        f["meta/names"] = np.array([b"a", b"bc"])
        f.create_dataset("meta/empty", data=h5py.Empty("f8"))
        f.create_group("meta/group")
    with h5py.File(path, "r") as f:
        yield f


def test_numbers_match_high_level_reads(h5):
    for key in ("meta/hyper_voxel_id", "meta/voxel_size", "meta/simulation_origo", "meta/small"):
        got, want = read_scalar(h5, key), h5[key][()]
        assert type(got) is type(want) and np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
    assert read_scalar(h5, "meta/hyper_voxel_id") == 7


def test_strings_are_decoded_and_null_dataspace_is_empty(h5):
    assert read_scalar(h5, "meta/config_file") == "network-config.json"
    assert read_scalar(h5, "meta/names") == ["a", "bc"]
    assert isinstance(read_scalar(h5, "meta/empty"), h5py.Empty)


def test_missing_key_names_file_and_key(h5):
    with pytest.raises(SnuddaFormatError, match=r"meta\.h5: missing dataset 'meta/voxelsize'"):
        read_scalar(h5, "meta/voxelsize")
    with pytest.raises(SnuddaFormatError, match="missing dataset 'nope/x'"):
        read_scalar(h5, "nope/x")
