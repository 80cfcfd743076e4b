"""Read and write chunked int32 HDF5 tables, (de)compressing LZF chunks with h5py's own C functions.

For every LZF chunk HDF5 runs h5py's filter into a freshly allocated buffer and then copies the rows
out. `TableReader` reads the raw chunk bytes itself and calls the same C function (`lzf_decompress`,
which h5py's h5z extension exports) to write whole chunks where they belong, keeping one decompressed
chunk for slices that start or end inside it. Tables it does not apply to (other filters, types or
chunk shapes, unallocated chunks, an h5py without the symbol) are read through h5py with a chunk
cache of two chunks. Both paths give the same bytes (tests compare them).

`TableWriter` is the other direction: it compresses whole chunks with h5py's `lzf_compress` in a
thread pool (ctypes releases the GIL, so chunks compress in parallel) and stores them with
`write_direct_chunk`, exactly as HDF5's filter would (an edge chunk zero-padded, a chunk LZF cannot
shrink stored raw and flagged in the filter mask). Other tables are written through h5py.
"""

from __future__ import annotations

import ctypes
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

import h5py
import numpy as np

from circuitflow.errors import CircuitflowError

LZF_FILTER = 32000


def _lzf(name: str):
    """h5py's lzf_compress / lzf_decompress(in, in_len, out, out_len) -> bytes written (0: failed), or None."""
    try:
        fn = getattr(ctypes.CDLL(h5py.h5z.__file__), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_uint]
    fn.restype = ctypes.c_uint
    return fn


LZF_DECOMPRESS = _lzf("lzf_decompress")
LZF_COMPRESS = _lzf("lzf_compress")


class ChunkError(CircuitflowError, ValueError):
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


def lzf_table(ds: h5py.Dataset) -> bool:
    """True if `ds` is an (n, width) int32 table chunked by whole rows whose only filter is LZF."""
    if ds.chunks is None or ds.shape is None or len(ds.shape) != 2:
        return False
    if ds.chunks[1] != ds.shape[1] or ds.dtype != np.dtype(np.int32) or sys.byteorder != "little":
        return False  # the dtype test also rules out a non-native byte order
    plist = ds.id.get_create_plist()
    return plist.get_nfilters() == 1 and plist.get_filter(0)[0] == LZF_FILTER


def lzf_chunks(ds: h5py.Dataset) -> np.ndarray | None:
    """(filter_mask, file offset, stored size) per chunk in row order if `ds` suits direct LZF reads, else None."""
    if LZF_DECOMPRESS is None or not hasattr(ds.id, "chunk_iter") or not lzf_table(ds):
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


class RawBuffer:
    """A growable byte buffer for compressed chunk bytes, shared by table readers (used only inside one read)."""

    def __init__(self) -> None:
        self.buf = np.empty(0, dtype=np.uint8)

    def get(self, size: int) -> np.ndarray:
        """The first `size` bytes of the buffer, grown (not zero-filled) if needed."""
        if size > len(self.buf):
            self.buf = np.empty(size, dtype=np.uint8)
        return self.buf[:size]


class TableReader:
    """Row slices [start, stop) of one (n, width) int32 table read into caller-owned arrays.

    Readers that share a `RawBuffer` share its memory for compressed bytes (one open table's worth, not one each).
    """

    def __init__(self, ds: h5py.Dataset, raw: RawBuffer | None = None):
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
        self.raw = raw if raw is not None else RawBuffer()
        self.scratch = np.empty((self.chunk_rows, self.width), dtype=np.int32)
        self.scratch_chunk = -1

    @property
    def direct(self) -> bool:
        """True if LZF chunks are decompressed directly (not through HDF5's filter pipeline)."""
        return self.chunks is not None

    def _decompress(self, k: int, out: np.ndarray) -> None:
        """Chunk k's rows (all chunk_rows of them) into the C-contiguous `out`."""
        mask, offset, size = (int(x) for x in self.chunks[k])
        raw = self.raw.get(size)
        if os.preadv(self.fd, [raw], offset) != size:
            raise ChunkError(f"{self.name}: chunk at row {k * self.chunk_rows} lies past the end of the file")
        if mask & 1:  # the filter was skipped for this chunk: stored raw
            if size != self.chunk_bytes:
                raise ChunkError(f"{self.name}: unfiltered chunk at row {k * self.chunk_rows} has {size} bytes")
            out.view(np.uint8).reshape(-1)[:] = raw
            return
        if LZF_DECOMPRESS(raw.ctypes.data, size, out.ctypes.data, self.chunk_bytes) != self.chunk_bytes:
            raise ChunkError(f"{self.name}: LZF chunk at row {k * self.chunk_rows} is corrupt")

    def read(self, start: int, stop: int, out: np.ndarray) -> None:
        """Read rows [start, stop) into out[:stop - start]."""
        if not 0 <= start <= stop <= self.n_rows:
            raise ChunkError(f"{self.name} has {self.n_rows} rows, rows {start}..{stop} were asked for")
        if stop == start:
            return
        if self.chunks is None or not out.flags.c_contiguous or out.dtype != np.int32:
            self.ds.read_direct(out, np.s_[start:stop], np.s_[0 : stop - start])
            return
        C = self.chunk_rows
        for k in range(start // C, (stop - 1) // C + 1):
            r0, r1 = max(start, k * C), min(stop, (k + 1) * C)
            if r0 == k * C and r1 == (k + 1) * C:  # the whole chunk: straight into place
                self._decompress(k, out[r0 - start : r1 - start])
                continue
            if self.scratch_chunk != k:
                self.scratch_chunk = -1
                self._decompress(k, self.scratch)
                self.scratch_chunk = k
            out[r0 - start : r1 - start] = self.scratch[r0 - k * C : r1 - k * C]

    def close(self) -> None:
        """Close the raw file descriptor (the h5py file is the caller's)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class TableWriter:
    """Rows appended in order to an (n, width) int32 table from row 0, LZF chunks compressed by `threads` threads.

    Use as a context manager; leaving it writes the last (edge) chunk. Rows must fill the table exactly.
    """

    def __init__(self, ds: h5py.Dataset, threads: int = 1, batch_chunks: int = 32):
        self.ds, self.pos = ds, 0
        self.n_rows = int(ds.shape[0])
        self.direct = LZF_COMPRESS is not None and hasattr(ds.id, "write_direct_chunk") and lzf_table(ds)
        if not self.direct:
            return
        self.chunk_rows, self.width = int(ds.chunks[0]), int(ds.shape[1])
        self.chunk_bytes = self.chunk_rows * self.width * 4
        self.threads = max(1, threads)
        self.batch = max(self.threads, batch_chunks)
        self.pending = np.empty((self.batch * self.chunk_rows, self.width), dtype=np.int32)
        self.filled = 0  # rows in `pending`
        self.out = np.empty((self.batch, self.chunk_bytes), dtype=np.uint8)
        self.sizes = np.zeros(self.batch, dtype=np.int64)
        self.pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None

    def write_from(self, src: h5py.Dataset, piece_rows: int = 1 << 20) -> None:
        """Append all rows of the (k, width) dataset `src` (read straight into the pending chunks)."""
        n = 0 if src.shape is None else int(src.shape[0])
        if not self.direct:
            for s in range(0, n, piece_rows):
                self.write(src[s : s + piece_rows])
            return
        self._append(n, lambda a, b, d: src.read_direct(self.pending, np.s_[a:b], np.s_[d : d + b - a]))

    def write(self, rows: np.ndarray) -> None:
        """Append `rows` (k, width) after the rows written so far."""
        if not self.direct:
            self._check(len(rows))
            self.ds[self.pos : self.pos + len(rows)] = rows
            self.pos += len(rows)
            return
        self._append(len(rows), lambda a, b, d: np.copyto(self.pending[d : d + b - a], rows[a:b]))

    def _check(self, n: int) -> None:
        """Fail if appending n rows would overflow the table."""
        written = self.pos + (self.filled if self.direct else 0) + n
        if written > self.n_rows:
            raise ValueError(f"{self.ds.name}: {written} rows written to a table of {self.n_rows}")

    def _append(self, n: int, copy: Callable[[int, int, int], None]) -> None:
        """Append n source rows: copy(a, b, d) puts source rows [a, b) at pending[d:]; full batches are stored."""
        self._check(n)
        done = 0
        while done < n:
            take = min(n - done, len(self.pending) - self.filled)
            copy(done, done + take, self.filled)
            self.filled += take
            done += take
            if self.filled == len(self.pending):
                self._flush()

    def _compress(self, k: int) -> None:
        """Compress chunk k of `pending` into out[k]; size 0 if LZF cannot shrink it."""
        src = self.pending[k * self.chunk_rows : (k + 1) * self.chunk_rows]
        self.sizes[k] = LZF_COMPRESS(src.ctypes.data, self.chunk_bytes, self.out[k].ctypes.data, self.chunk_bytes)

    def _flush(self) -> None:
        """Compress and store the chunks in `pending` (the last one may be a zero-padded edge chunk)."""
        n_chunks = -(-self.filled // self.chunk_rows)
        if n_chunks == 0:
            return
        if self.filled % self.chunk_rows:
            self.pending[self.filled : n_chunks * self.chunk_rows] = 0
        if self.pool is None:
            for k in range(n_chunks):
                self._compress(k)
        else:
            list(self.pool.map(self._compress, range(n_chunks)))
        for k in range(n_chunks):
            size = int(self.sizes[k])
            chunk = self.pending[k * self.chunk_rows : (k + 1) * self.chunk_rows]
            if size:
                self.ds.id.write_direct_chunk((self.pos, 0), self.out[k, :size], filter_mask=0)
            else:  # what HDF5 does when an optional filter fails: store the chunk raw, flag it skipped
                self.ds.id.write_direct_chunk((self.pos, 0), chunk, filter_mask=1)
            self.pos += min(self.chunk_rows, self.filled - k * self.chunk_rows)
        self.filled = 0

    def close(self) -> None:
        """Write what is pending and check the table is full."""
        if self.direct:
            self._flush()
            if self.pool is not None:
                self.pool.shutdown()
        if self.pos != self.n_rows:
            raise ValueError(f"{self.ds.name}: {self.pos} rows written to a table of {self.n_rows}")

    def __enter__(self) -> "TableWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        elif self.direct and self.pool is not None:
            self.pool.shutdown()
