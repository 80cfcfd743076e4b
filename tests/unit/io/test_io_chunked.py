"""io.chunked: direct LZF chunk reads and writes give exactly h5py's rows, and fall back to h5py where they do not apply."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from circuitflow.io.chunked import ChunkError, RawBuffer, TableReader, TableWriter

RNG = np.random.default_rng(5)


def table(path, rows: np.ndarray, userblock: int = 0, **kw) -> None:
    """Write rows as network/synapses (13 wide) with the given dataset options."""
    with h5py.File(path, "w", userblock_size=userblock) as f:
        f.create_dataset("network/synapses", data=rows, **kw)


def compressible(n: int) -> np.ndarray:
    """Rows like Snudda's: small ranges per column, so LZF compresses them."""
    return RNG.integers(0, 50, size=(n, 13), dtype=np.int32)


def slices(n: int):
    """Every kind of slice: empty, inside one chunk, across chunk boundaries, whole table, the tail."""
    yield from [(0, 0), (0, n), (3, 4), (0, 7), (7, 14), (5, 30), (n - 1, n), (n - 9, n)]
    for _ in range(40):
        a = int(RNG.integers(0, n))
        yield a, int(RNG.integers(a, n + 1))


def check_reads(path, direct: bool) -> None:
    with h5py.File(path, "r") as f:
        ds = f["network/synapses"]
        expected = ds[()]
        reader = TableReader(ds)
        assert reader.direct is direct
        buf = np.full((len(expected) + 5, 13), -1, dtype=np.int32)
        for a, b in slices(len(expected)):
            reader.read(a, b, buf)
            np.testing.assert_array_equal(buf[: b - a], expected[a:b])
        reader.close()


@pytest.mark.parametrize("userblock", [0, 512])
def test_lzf_chunks_read_directly_match_h5py(tmp_path, userblock):
    path = tmp_path / "t.h5"
    table(path, compressible(101), userblock, chunks=(7, 13), compression="lzf", maxshape=(None, 13))
    check_reads(path, direct=True)


def test_chunks_stored_unfiltered_are_copied(tmp_path):
    """LZF cannot shrink random words: HDF5 then stores the chunk raw and flags it in the filter mask."""
    path = tmp_path / "t.h5"
    table(path, RNG.integers(-(2**31), 2**31 - 1, size=(50, 13), dtype=np.int32), chunks=(7, 13), compression="lzf")
    with h5py.File(path) as f:
        masks = []
        f["network/synapses"].id.chunk_iter(lambda s: masks.append(s.filter_mask))
    assert any(m & 1 for m in masks)
    check_reads(path, direct=True)


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(chunks=(7, 13), compression="gzip"),
        dict(chunks=(7, 13), compression="lzf", shuffle=True),
        dict(chunks=(7, 5), compression="lzf"),
    ],
)
def test_other_layouts_fall_back_to_h5py(tmp_path, options):
    path = tmp_path / "t.h5"
    table(path, compressible(60), **options)
    check_reads(path, direct=False)


def test_unallocated_chunks_fall_back_to_h5py(tmp_path):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("network/synapses", shape=(60, 13), dtype=np.int32, chunks=(7, 13), compression="lzf")
        ds[:10] = compressible(10)
    check_reads(path, direct=False)


def test_corrupt_chunk_is_an_error_naming_file_and_row(tmp_path):
    path = tmp_path / "t.h5"
    table(path, compressible(60), chunks=(7, 13), compression="lzf")
    with h5py.File(path) as f:
        infos = []
        f["network/synapses"].id.chunk_iter(lambda s: infos.append((s.chunk_offset[0], s.byte_offset, s.size)))
    row, offset, size = sorted(infos)[2]
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * size)
    with h5py.File(path, "r") as f:
        reader = TableReader(f["network/synapses"])
        with pytest.raises(ChunkError, match=rf"t\.h5: 'network/synapses': LZF chunk at row {row} is corrupt"):
            reader.read(0, 60, np.empty((60, 13), np.int32))
        with pytest.raises(ChunkError, match=r"has 60 rows, rows 50\.\.61 were asked for"):
            reader.read(50, 61, np.empty((60, 13), np.int32))
        reader.close()


def test_readers_sharing_a_raw_buffer_read_their_own_rows(tmp_path):
    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    data = [compressible(40), compressible(33)]
    for path, rows in zip(paths, data):
        table(path, rows, chunks=(7, 13), compression="lzf")
    raw = RawBuffer()
    with h5py.File(paths[0]) as fa, h5py.File(paths[1]) as fb:
        readers = [TableReader(fa["network/synapses"], raw), TableReader(fb["network/synapses"], raw)]
        out = np.empty((40, 13), np.int32)
        for a, b in [(0, 9), (3, 30), (9, 33)]:  # alternate between the files
            for reader, rows in zip(readers, data):
                reader.read(a, b, out)
                np.testing.assert_array_equal(out[: b - a], rows[a:b])
        for reader in readers:
            reader.close()


def writer_table(path, n: int, **kw) -> h5py.File:
    f = h5py.File(path, "w")
    f.create_dataset("network/synapses", shape=(n, 13), dtype=np.int32, maxshape=(None, 13), **kw)
    return f


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("n", [0, 7, 50, 101])
def test_writer_stores_what_h5py_would(tmp_path, threads, n):
    """Direct LZF chunk writes in pieces of any size read back exactly, through HDF5's own filter too."""
    rows = compressible(n)
    rows[n // 2 :] = RNG.integers(-(2**31), 2**31 - 1, size=(n - n // 2, 13), dtype=np.int32)  # incompressible chunks
    path = tmp_path / "w.h5"
    with writer_table(path, n, chunks=(7, 13), compression="lzf") as f:
        with TableWriter(f["network/synapses"], threads, batch_chunks=2) as w:
            assert w.direct
            pos = 0
            for size in [3, 0, 11, 7, 1, 40, 1000]:
                w.write(rows[pos : pos + size])
                pos += size
    with h5py.File(path) as f:
        ds = f["network/synapses"]
        np.testing.assert_array_equal(ds[()], rows)  # decompressed by HDF5's filter
        masks = []
        ds.id.chunk_iter(lambda s: masks.append(s.filter_mask))
    assert len(masks) == -(-n // 7)
    if n >= 50:
        assert 0 in masks and 1 in masks  # compressed and raw chunks both written
    if n >= 50:
        check_reads(path, direct=True)


def test_writer_copies_datasets_and_checks_the_row_count(tmp_path):
    src_rows = compressible(45)
    with (
        writer_table(tmp_path / "s.h5", 45) as src,
        writer_table(tmp_path / "w.h5", 90, chunks=(7, 13), compression="lzf") as f,
    ):
        src["network/synapses"][:] = src_rows
        with TableWriter(f["network/synapses"], 2, batch_chunks=3) as w:
            w.write_from(src["network/synapses"], piece_rows=10)
            w.write_from(src["network/synapses"], piece_rows=10)
            with pytest.raises(ValueError, match="91 rows written to a table of 90"):
                w.write(src_rows[:1])
        np.testing.assert_array_equal(f["network/synapses"][()], np.r_[src_rows, src_rows])
        with pytest.raises(ValueError, match="45 rows written to a table of 90"):
            with TableWriter(f["network/synapses"]) as w:
                w.write_from(src["network/synapses"])


@pytest.mark.parametrize("options", [dict(), dict(chunks=(7, 13), compression="gzip"), dict(chunks=(7, 13))])
def test_writer_falls_back_to_h5py(tmp_path, options):
    rows = compressible(30)
    with writer_table(tmp_path / "s.h5", 30) as src, writer_table(tmp_path / "w.h5", 60, **options) as f:
        src["network/synapses"][:] = rows
        with TableWriter(f["network/synapses"], 2) as w:
            assert not w.direct
            w.write(rows)
            w.write_from(src["network/synapses"], piece_rows=8)
        np.testing.assert_array_equal(f["network/synapses"][()], np.r_[rows, rows])
