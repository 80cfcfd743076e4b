"""Read row slices of chunked int32 HDF5 tables, decompressing LZF chunks straight into the caller's array.

For every LZF chunk HDF5 runs h5py's filter into a freshly allocated buffer and then copies the rows
out. `TableReader` reads the raw chunk bytes itself and calls the same C function (`lzf_decompress`,
which h5py's h5z extension exports) to write whole chunks where they belong, keeping one decompressed
chunk for slices that start or end inside it. Tables it does not apply to (other filters, types or
chunk shapes, unallocated chunks, an h5py without the symbol) are read through h5py with a chunk
cache of two chunks. Both paths give the same bytes (tests compare them).
"""

from __future__ import annotations

import ctypes
import os
import sys

import h5py
import numpy as np

LZF_FILTER = 32000


def _lzf_decompress():
    """h5py's lzf_decompress(in, in_len, out, out_len) -> bytes written (0 on error), or None if not exported."""
    try:
        fn = ctypes.CDLL(h5py.h5z.__file__).lzf_decompress
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint]
    fn.restype = ctypes.c_uint
    return fn


LZF_DECOMPRESS = _lzf_decompress()


class ChunkError(ValueError):
    """A chunk of a table cannot be decompressed."""


def with_small_chunk_cache(ds: h5py.Dataset) -> h5py.Dataset:
    """`ds` reopened with a chunk cache of two chunks: enough for slices that start and end inside a chunk.

    h5py's default (8 MiB per dataset) would keep up to 8 MiB of decompressed rows per open table.
    """
    if ds.chunks is None:
        return ds
    chunk_bytes, name, fid = int(np.prod(ds.chunks)) * ds.dtype.itemsize, ds.name.encode(), ds.file.id
    ds.id.close()  # a dataset opened twice shares the first opening's chunk cache
    dapl = h5py.h5p.create(h5py.h5p.DATASET_ACCESS)
    dapl.set_chunk_cache(11, 2 * chunk_bytes + 4096, 1.0)
    return h5py.Dataset(h5py.h5d.open(fid, name, dapl))


def lzf_chunks(ds: h5py.Dataset) -> np.ndarray | None:
    """(filter_mask, file offset, stored size) per chunk in row order if `ds` suits direct LZF reads, else None."""
    if LZF_DECOMPRESS is None or ds.chunks is None or ds.shape is None or len(ds.shape) != 2:
        return None
    if ds.chunks[1] != ds.shape[1] or ds.dtype != np.dtype(np.int32) or sys.byteorder != "little":
        return None  # the dtype test also rules out a non-native byte order
    if not hasattr(ds.id, "chunk_iter"):
        return None
    plist = ds.id.get_create_plist()
    if plist.get_nfilters() != 1 or plist.get_filter(0)[0] != LZF_FILTER:
        return None
    infos: list[tuple[int, int, int, int]] = []
    try:
        ds.id.chunk_iter(lambda s: infos.append((s.chunk_offset[0], s.filter_mask, s.byte_offset, s.size)))
    except (RuntimeError, OSError, ValueError):  # the HDF5 library refuses to iterate the chunk index
        return None
    infos.sort()
    rows = ds.chunks[0]
    n_chunks = -(-ds.shape[0] // rows)
    if [r for r, *_ in infos] != list(range(0, n_chunks * rows, rows)):
        return None  # unallocated chunks (fill values): leave them to HDF5
    return np.array([info[1:] for info in infos], dtype=np.int64).reshape(-1, 3)  # offsets count a userblock too


class TableReader:
    """Row slices [start, stop) of one (n, width) int32 table read into caller-owned arrays."""

    def __init__(self, ds: h5py.Dataset):
        self.name = f"{ds.file.filename}: '{ds.name.lstrip('/')}'"
        self.n_rows = 0 if ds.shape is None else int(ds.shape[0])
        self.chunks = lzf_chunks(ds)
        self.fd = -1
        if self.chunks is None:
            self.ds = with_small_chunk_cache(ds)
            return
        self.ds = None
        self.chunk_rows, self.width = int(ds.chunks[0]), int(ds.shape[1])
        self.chunk_bytes = self.chunk_rows * self.width * 4
        self.fd = os.open(ds.file.filename, os.O_RDONLY)
        self.raw = bytearray(int(self.chunks[:, 2].max()) if len(self.chunks) else 0)
        self.raw_ptr = ctypes.addressof(ctypes.c_char.from_buffer(self.raw)) if len(self.raw) else 0
        self.scratch = np.empty((self.chunk_rows, self.width), dtype=np.int32)
        self.scratch_chunk = -1

    @property
    def direct(self) -> bool:
        """True if LZF chunks are decompressed directly (not through HDF5's filter pipeline)."""
        return self.chunks is not None

    def _decompress(self, k: int, out: np.ndarray) -> None:
        """Chunk k's rows (all chunk_rows of them) into the C-contiguous `out`."""
        mask, offset, size = (int(x) for x in self.chunks[k])
        view = memoryview(self.raw)[:size]
        if os.preadv(self.fd, [view], offset) != size:
            raise ChunkError(f"{self.name}: chunk at row {k * self.chunk_rows} lies past the end of the file")
        if mask & 1:  # the filter was skipped for this chunk: stored raw
            if size != self.chunk_bytes:
                raise ChunkError(f"{self.name}: unfiltered chunk at row {k * self.chunk_rows} has {size} bytes")
            out.view(np.uint8).reshape(-1)[:] = np.frombuffer(view, dtype=np.uint8)
            return
        if LZF_DECOMPRESS(self.raw_ptr, size, out.ctypes.data, self.chunk_bytes) != self.chunk_bytes:
            raise ChunkError(f"{self.name}: LZF chunk at row {k * self.chunk_rows} is corrupt")

    def read(self, start: int, stop: int, out: np.ndarray) -> None:
        """Read rows [start, stop) into out[:stop - start]."""
        if not 0 <= start <= stop <= self.n_rows:
            raise ChunkError(f"{self.name} has {self.n_rows} rows, rows {start}..{stop} were asked for")
        if stop == start:
            return
        if self.chunks is None or not out.flags.c_contiguous or out.dtype != np.int32:
            self.ds.read_direct(out, np.s_[start:stop], np.s_[0:stop - start])
            return
        C = self.chunk_rows
        for k in range(start // C, (stop - 1) // C + 1):
            r0, r1 = max(start, k * C), min(stop, (k + 1) * C)
            if r0 == k * C and r1 == (k + 1) * C:  # the whole chunk: straight into place
                self._decompress(k, out[r0 - start:r1 - start])
                continue
            if self.scratch_chunk != k:
                self.scratch_chunk = -1
                self._decompress(k, self.scratch)
                self.scratch_chunk = k
            out[r0 - start:r1 - start] = self.scratch[r0 - k * C:r1 - k * C]

    def close(self) -> None:
        """Close the raw file descriptor (the h5py file is the caller's)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
