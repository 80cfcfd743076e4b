"""synthesis.finalize: the apical YAMLs are the bytes of PyYAML's default dumper, the morphology folder gets every
chunk file but the container copies and hidden files."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import yaml

from circuitflow.io.morphology import CONTAINER_FOLDER, morphology_name, morphology_property
from circuitflow.synthesis import finalize

#: keys that the resolver makes the emitters quote
WORDS = "null true no on y 1e5 0x1f 0o17 012 1_000 inf nan _ a/ 2001-12-14 e1".split()


def random_key(rng) -> str:
    """A morphology name (flat or hashed), a key the resolver makes quote, or (rarely) any other key."""
    kind = rng.integers(4)
    if kind == 0:
        return morphology_property(morphology_name(int(rng.integers(2**32))), [None, 1, 2, 3][rng.integers(4)])
    if kind == 1:
        return str(rng.choice(WORDS))
    if kind == 2:
        return "".join(rng.choice(list("0123456789abcdefxyz_/"), int(rng.integers(1, 65))))
    return "".join(rng.choice(list("abcé漢 _-.'\"\\/:"), int(rng.integers(0, 200))))  # PyYAML's emitter


def random_value(rng):
    """None, an apical point (3 floats of any magnitude, sometimes not finite) or NRN section ids."""
    kind = rng.integers(3)
    if kind == 0:
        return None
    if kind == 1:
        point = [float(v) for v in rng.normal(size=3) * 10.0 ** rng.integers(-300, 300)]
        return point + ([float("nan"), float("inf"), -0.0] if rng.random() < 0.05 else [])
    return [int(v) for v in rng.integers(0, 10**6, int(rng.integers(0, 5)))]


@pytest.mark.parametrize("seed", range(40))
def test_apical_yaml_bytes_equal_pyyaml_defaults(tmp_path, seed):
    rng = np.random.default_rng(seed)
    data = {random_key(rng): random_value(rng) for _ in range(int(rng.integers(0, 300)))}
    if seed % 2:  # half of the cases: only names, written by libyaml's emitter
        data = {k: v for k, v in data.items() if finalize.SIMPLE_KEY.fullmatch(k)}
    finalize.write_yaml(tmp_path / "a.yaml", data)
    assert (tmp_path / "a.yaml").read_text(encoding="utf-8") == yaml.dump(data)


def test_apical_yaml_data_keeps_grown_cells():
    results = pd.DataFrame(
        {
            "name": ["a", None, "c"],
            "apical_points": [[None, [1, 2.5, 3]], [], [None]],
            "apical_NRN_sections": [[4], None, None],
        }
    )
    assert finalize.apical_yaml_data(results) == ({"a": [1.0, 2.5, 3.0], "c": None}, {"a": [4], "c": []})


def test_link_morphologies_skips_container_copies_and_hidden_files(tmp_path):
    files = {
        "c0/a.asc": "a",
        "c0/.snakemake_timestamp": "",
        f"c0/{CONTAINER_FOLDER}/a.h5": "h5",
        "c1/1/2/b.asc": "b",
        "c1/1/2/b.h5": "b5",
        "c1/.hidden/d.asc": "d",  # a visible file in a hidden folder is linked, as before
        "c1/3/.e.asc": "",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    finalize.link_morphologies([str(tmp_path / "c0"), tmp_path / "c1"], tmp_path / "out")
    linked = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert linked == [".hidden/d.asc", "1/2/b.asc", "1/2/b.h5", "a.asc"]
    assert os.path.samefile(tmp_path / "out/1/2/b.asc", tmp_path / "c1/1/2/b.asc")
    assert not (tmp_path / "out/3").exists()
