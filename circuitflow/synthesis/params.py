"""TMD parameters and distributions: load, normalize, verify per (region, mtype) (spec §1.2-§3.5)."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path

import jsonschema
import pandas as pd

from circuitflow.errors import CircuitflowError

L = logging.getLogger(__name__)

NEURITE_TYPES = ["basal_dendrite", "apical_dendrite", "axon"]

_LIMIT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layer", "fraction"],
    "properties": {
        "layer": {"type": "integer", "minimum": 1, "maximum": 6},
        "fraction": {"type": "number"},
    },
}
_EXTENT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layer", "fraction", "slope", "intercept"],
    "properties": {
        "layer": {"type": "integer", "minimum": 1, "maximum": 6},
        "fraction": {"type": "number"},
        "slope": {"type": "number"},
        "intercept": {"type": "number"},
    },
}
_DENDRITE_CONSTRAINTS = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"extent_to_target": _EXTENT, "hard_limit_min": _LIMIT, "hard_limit_max": _LIMIT},
}
#: region-grower's file-level schema for tmd_parameters (context_constraints is strict).
PARAMETERS_SCHEMA = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "properties": {
                "grow_types": {"type": "array", "items": {"enum": NEURITE_TYPES}},
                "context_constraints": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "apical_dendrite": _DENDRITE_CONSTRAINTS,
                        "basal_dendrite": _DENDRITE_CONSTRAINTS,
                        "axon": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {"hard_limit_min": _LIMIT, "hard_limit_max": _LIMIT},
                        },
                    },
                },
            },
        },
    },
}
#: region-grower's file-level schema for tmd_distributions: an object of objects.
DISTRIBUTIONS_SCHEMA = {
    "type": "object",
    "additionalProperties": {"type": "object", "additionalProperties": {"type": "object"}},
}


class ParametersError(CircuitflowError, ValueError):
    """TMD parameters or distributions are missing, malformed or inconsistent."""


def load_tmd_file(path: str | os.PathLike, kind: str) -> dict:
    """Load a tmd_parameters / tmd_distributions JSON and rename legacy neurite types."""
    path = Path(path)
    if not path.is_file():
        raise ParametersError(f"{kind}: file not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ParametersError(f"{kind}: {path} is not valid JSON ({exc})") from exc
    import circuitflow.synthesis.lazy  # noqa: F401  (first: NeuroTS' package __init__ and pyplot stay unloaded)

    # isort: split
    from neurots.utils import convert_from_legacy_neurite_type  # numpy and neurom: not NeuroTS' growers

    return convert_from_legacy_neurite_type(data)


def prepare_grow_types(params: dict, synthesize_axons: bool) -> dict:
    """Require grow_types; drop 'axon' unless axons are synthesized (region-grower's load step)."""
    missing_axon = []
    for region, mtypes in params.items():
        for mtype, entry in mtypes.items():
            if "grow_types" not in entry:
                raise ParametersError(f"tmd_parameters[{region}][{mtype}]: missing 'grow_types'")
            if not synthesize_axons:
                if "axon" in entry["grow_types"]:
                    entry["grow_types"].remove("axon")
            elif "axon" not in entry["grow_types"]:
                missing_axon.append(f"{region}/{mtype}")
    if missing_axon:
        L.warning("No axon data, but axon synthesis requested, you will not have axons")
    return params


def merge_defaults(data: dict) -> dict:
    """Fill missing mtypes of every present region from the 'default' region (shared references)."""
    if "default" in data:
        for region in data:
            if region == "default":
                continue
            for mtype, value in data["default"].items():
                data[region].setdefault(mtype, value)
    return data


def json_key(synthesis_region: str, region: str, distributions: dict) -> str:
    """The tmd-file key of a cell: its synthesis region if present, else its raw acronym."""
    return synthesis_region if synthesis_region in distributions else region


def _schema_check(data: dict, schema: dict, kind: str) -> None:
    """jsonschema.validate(data, schema)'s error (its best match), as one line, without checking the constant
    schema against its metaschema at each call (a test checks ours once)."""
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path)
        raise ParametersError(f"{kind}: at [{where}]: {error.message}")


def verify(cells: pd.DataFrame, params: dict, distributions: dict, structure: dict) -> list[tuple[str, str]]:
    """Check every (region, mtype) of the cells; return the (json key, mtype) pairs in first-seen order."""
    _schema_check(distributions, DISTRIBUTIONS_SCHEMA, "tmd_distributions")
    _schema_check(params, PARAMETERS_SCHEMA, "tmd_parameters")
    pairs: list[tuple[str, str]] = []
    for region in pd.unique(cells["region"]):
        in_region = cells[cells["region"] == region]
        key = json_key(in_region["synthesis_region"].iloc[0], region, distributions)
        for mtype in pd.unique(in_region["mtype"]):
            if key not in distributions:
                raise ParametersError(
                    f"tmd_distributions: no entry for region '{key}' (cells of mtype {mtype} in region {region})"
                )
            if key not in params:
                raise ParametersError(
                    f"tmd_parameters: no entry for region '{key}' (cells of mtype {mtype} in region {region})"
                )
            if mtype not in distributions[key]:
                raise ParametersError(f"Missing distributions for mtype '{mtype}' in region '{key}'")
            if mtype not in params[key]:
                raise ParametersError(f"Missing parameters for mtype '{mtype}' in region '{key}'")
            if (key, mtype) not in pairs:
                pairs.append((key, mtype))
    synthesis_of = dict(zip(cells["region"], cells["synthesis_region"]))
    valid_diameter_params: set[str] = set()
    for key, mtype in pairs:
        _verify_entry(key, mtype, params[key][mtype], distributions[key][mtype], valid_diameter_params)
        regions = {s for r, s in synthesis_of.items() if json_key(s, r, distributions) == key}
        _check_constraints(key, mtype, params[key][mtype], regions, structure)
    return pairs


def _verify_entry(key: str, mtype: str, params: dict, distributions: dict, valid_diameter_params: set) -> None:
    """NeuroTS and diameter-synthesis validation of one (region, mtype) entry; diameter parameters equal to ones
    in `valid_diameter_params` (their JSON texts; often one model serves every mtype) pass at once, and valid
    ones are added there (diameter-synthesis checks its schema itself at each call: 15 ms)."""
    import circuitflow.synthesis.lazy  # noqa: F401,I001  (first: NeuroTS' package __init__ stays unloaded)

    # `import a.b as c`, not `from a import b`: the latter reads an attribute of the deferred package, running it
    import diameter_synthesis.validators as diameter_validators
    import neurots.validator as neurots_validator
    from neurots.generate.orientations import check_3d_angles
    from neurots.utils import NeuroTSError

    where = f"region '{key}', mtype '{mtype}'"
    try:
        neurots_validator.validate_neuron_distribs(distributions)
    except neurots_validator.ValidationError as exc:
        raise ParametersError(f"tmd_distributions, {where}: {exc}".replace("\n", "; ")) from None
    try:
        neurots_validator.validate_neuron_params(params)
    except neurots_validator.ValidationError as exc:
        raise ParametersError(f"tmd_parameters, {where}: {exc}".replace("\n", "; ")) from None
    diameter_text = json.dumps(params["diameter_params"], sort_keys=True)
    if diameter_text not in valid_diameter_params:
        try:
            diameter_validators.validate_model_params(params["diameter_params"])
        except Exception as exc:  # diameter-synthesis raises its own ValidationError
            raise ParametersError(f"tmd_parameters, {where}: diameter_params: {exc}".replace("\n", "; ")) from None
        valid_diameter_params.add(diameter_text)
    try:
        check_3d_angles(params)
    except NeuroTSError as exc:
        raise ParametersError(
            f"tmd_parameters, {where}: {exc} (either every grow type or none must use a 3D-angle orientation mode)"
        ) from None
    p_method = params["diameter_params"].get("method")
    d_method = distributions.get("diameter", {}).get("method")
    if (p_method == "external") != (d_method == "external"):
        L.warning(
            "%s: diameter method differs between parameters (%s) and distributions (%s); "
            "NeuroTS uses the distributions' one, the external diametrizer follows the parameters'",
            where,
            p_method,
            d_method,
        )


def _check_constraints(key: str, mtype: str, params: dict, regions: set, structure: dict) -> None:
    """Constraint layers must exist in every region using them (RG-2b); warn on RG-3."""
    constraints = params.get("context_constraints") or {}
    for neurite_type, block in constraints.items():
        for name, constraint in block.items():
            for region in regions:
                if region not in structure:
                    continue
                n_layers = len(structure[region]["layers"])
                if constraint["layer"] > n_layers:
                    raise ParametersError(
                        f"tmd_parameters[{key}][{mtype}]: context_constraints.{neurite_type}.{name} "
                        f"uses layer {constraint['layer']} but region '{region}' has {n_layers} layers"
                    )
    if "extent_to_target" in constraints.get("apical_dendrite", {}) and "extent_to_target" in constraints.get(
        "basal_dendrite", {}
    ):
        L.warning(
            "region '%s', mtype '%s': the apical extent_to_target is ignored because a basal one is "
            "present (region-grower 1.6.0 behaviour)",
            key,
            mtype,
        )


def inconsistent_context(cells: pd.DataFrame, params: dict, distributions: dict, structure: dict) -> list:
    """(region, mtype) couples with context_constraints outside any region_structure region (RG-4)."""
    couples = []
    for (region, synthesis_region, mtype), _ in cells.groupby(
        ["region", "synthesis_region", "mtype"], sort=False, observed=True
    ):
        key = json_key(synthesis_region, region, distributions)
        entry = params.get(key, {}).get(mtype, {})
        if entry.get("context_constraints") and synthesis_region not in structure:
            couples.append([region, mtype])
    return couples


def entry_for(params: dict, distributions: dict, key: str, mtype: str) -> dict:
    """A deep copy of one (region, mtype) entry's parameters and distributions."""
    return {
        "parameters": copy.deepcopy(params[key][mtype]),
        "distributions": copy.deepcopy(distributions[key][mtype]),
    }
