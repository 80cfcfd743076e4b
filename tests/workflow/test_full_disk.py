"""A full disk during synthesis (issue 15, finding 2), on a real small tmpfs: the job fails with one line naming
the file, no unreadable morphology is left for a re-run to trust, and the re-run after freeing space equals a
clean run. Needs root to mount a tmpfs (skipped otherwise; tests/unit/io/test_io_morphology_write.py covers the
same checks with writers that fail on purpose)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import morphio
import pytest
from conftest import job_counts, run_snakemake
from test_synthesis_workflow import assert_same_outputs, grafting_config


@pytest.fixture
def tmpfs(tmp_path):
    """A 16 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:8]}"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path, leave: int) -> Path:
    """Write a filler file leaving about `leave` bytes free on `folder`'s file system."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    filler = folder / "filler"
    with open(filler, "wb") as f:
        f.truncate(0)
        f.write(b"\0" * max(0, free - leave))
    return filler


def config(out_dir: str) -> dict:
    """14 cells, asc only (the writer that fails silently), no donors: about 1 MB of morphologies."""
    cfg = grafting_config(
        chunk_size=5,
        morph_axon=None,
        base_morph_dir=None,
        container_path=None,
        out_morph_ext=["asc"],
        out_apical_nrn_sections=False,
    )
    cfg["out_dir"] = out_dir
    return cfg


def test_full_disk_fails_clearly_and_the_rerun_equals_a_clean_run(tmpfs, tmp_path):
    work = tmp_path / "work"
    cfg = config(str(tmpfs / "out"))
    # Everything before the chunks, with space to spare; then leave room for logs and tables, not morphologies.
    run_snakemake(
        work, cfg, "--cores", "1", f"{tmpfs}/out/synthesis/atlas_cache.h5", f"{tmpfs}/out/synthesis/parameters.json"
    )
    filler = fill(tmpfs, leave=160 * 1024)
    proc = run_snakemake(work, cfg, "--cores", "1", "--keep-going", "synthesis", check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert errors, proc.stderr[-3000:]
    assert any(".asc: not written completely" in e and "no space left on device" in e for e in errors), errors
    # Nothing unreadable is left under its final name, and a dry run plans the failed chunks again.
    for path in (tmpfs / "out/synthesis").rglob("*.asc"):
        if not path.name.startswith("."):
            morphio.Morphology(str(path))
    assert job_counts(run_snakemake(work, cfg, "-n", "--cores", "1", "synthesis").stdout).get("synthesis_chunk")
    filler.unlink()
    run_snakemake(work, cfg, "--cores", "1", "--rerun-incomplete", "synthesis")
    clean = tmp_path / "clean"
    run_snakemake(clean, config("out"), "--cores", "1", "synthesis")
    n = assert_same_outputs(tmpfs / "out/synthesis/morphologies", clean / "out/synthesis/morphologies")
    assert n > 10
    for name in ("apical.yaml",):
        assert (tmpfs / "out/synthesis" / name).read_bytes() == (clean / "out/synthesis" / name).read_bytes()
