"""Config helpers shared by the workflow and the command line: canonical forms and key checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from circuitflow.errors import CircuitflowError

#: The config sections, each with its own schema file config/schema.<section>.yaml.
SECTIONS = ("synthesis", "detect", "prune", "connectome")


def canonical(value: Any) -> Any:
    """Return `value` with every mapping's keys sorted, recursively (stable params for Snakemake)."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


class ConfigError(CircuitflowError, ValueError):
    """A config key is unknown or misplaced."""


def check_keys(config: dict, schemas: dict, prefix: str = "") -> None:
    """Fail on the first key a schema does not allow, naming it and the allowed keys."""
    if schemas.get("additionalProperties", True) is False and isinstance(config, dict):
        allowed = schemas.get("properties", {})
        for key in config:
            if key not in allowed:
                raise ConfigError(f"config: unknown key '{prefix}{key}'; allowed keys here: {sorted(allowed)}")
    if isinstance(config, dict):
        for key, value in config.items():
            sub = schemas.get("properties", {}).get(key)
            if isinstance(sub, dict) and isinstance(value, dict):
                check_keys(value, sub, f"{prefix}{key}.")


#: Config sections whose strings become paths in rules (connectome holds mtypes and expressions instead).
PATH_SECTIONS = ("out_dir", "synthesis", "detect", "prune")


def check_no_braces(config: dict) -> None:
    """Fail on a path value holding '{' or '}', naming its key: Snakemake reads them as wildcards in a rule's
    files, which fails later with a message naming no key (other shell characters are quoted, :q)."""

    def walk(value, key: str) -> None:
        if isinstance(value, str) and ("{" in value or "}" in value):
            raise ConfigError(
                f"config: {key}: {value!r} holds '{{' and '}}' (or one of them), which Snakemake "
                "reads as a wildcard in a path; rename the file or folder"
            )
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}")
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(v, f"{key}[{i}]")

    for section in PATH_SECTIONS:
        if section in config:
            walk(config[section], section)


def load_schema(path: str) -> dict:
    """A YAML/JSON schema file as a dict."""
    import yaml

    with open(path, encoding="utf-8") as f:  # libyaml's loader when PyYAML has it: 6x faster, same result
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def schema_error(config: dict, schema: dict, prefix: str = "") -> str | None:
    """The first violation of `schema` by `config` as one line (key path and reason), filling defaults in place."""
    from jsonschema import Draft202012Validator, validators

    properties = Draft202012Validator.VALIDATORS["properties"]

    def set_defaults(validator, props, instance, subschema):
        """Fill the defaults of `props` into `instance`, then validate it (as Snakemake's validate does)."""
        for key, sub in props.items():
            if isinstance(instance, dict) and "default" in sub:
                instance.setdefault(key, sub["default"])
        yield from properties(validator, props, instance, subschema)

    validator = validators.extend(Draft202012Validator, {"properties": set_defaults})(schema)
    error = next(iter(validator.iter_errors(config)), None)
    if error is None:
        return None
    parts = [*prefix.split(".")[:-1], *(str(p) for p in error.absolute_path)]
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        return f"config: missing required key '{'.'.join(parts + missing[:1])}'"
    path = ".".join(parts)
    message = error.message.splitlines()[0] if error.message else error.validator
    if len(message) > 200:  # a whole section's repr: the key path says where
        message = f"{message[:200]}... ({error.validator} failed)"
    return f"config: {path or '<top level>'}: {message}"


def check_config(config: dict, schema_dir: str | Path) -> dict:
    """Check keys, chain the stages and validate `config` in place (defaults filled); one-line ConfigError."""
    from circuitflow.synthesis.options import check_upstream_keys

    check_upstream_keys(config.get("synthesis", {}))
    schema = load_schema(Path(schema_dir, "schema.yaml"))
    sections = {name: load_schema(Path(schema_dir, f"schema.{name}.yaml")) for name in SECTIONS}
    check_keys(config, {**schema, "properties": {**schema["properties"], **sections}})
    check_no_braces(config)
    chain_stages(config)
    problem = schema_error(config, schema)
    for name in SECTIONS:
        if problem is None and name in config:
            problem = schema_error(config[name], sections[name], f"{name}.")
    if problem is not None:
        raise ConfigError(problem)
    return config


def targets_help(targets: dict, stages: list) -> str:
    """The text the default target prints: every target and the stages this config holds."""
    lines = ["circuitflow targets (run e.g. `snakemake --cores 2 all`):"]
    lines += [f"  {name:<10} {text}" for name, text in targets.items()]
    lines.append("stages in this config: " + (", ".join(stages) or "none"))
    return "\n".join(lines)


def chain_stages(config: dict) -> dict:
    """Fill the hand-offs between the stages of one config (synthesis -> detect -> prune), in place.

    detect without a source reads the synthesized circuit (SONATA nodes and morphologies) with the
    pathways of `connectome`; prune without a config file prunes with those pathways' rules.
    """
    out = config.get("out_dir", "out")
    synthesis, detect, prune = config.get("synthesis"), config.get("detect"), config.get("prune")
    connectome = config.get("connectome")
    if synthesis is not None and detect is not None and not {"network_path", "sonata"} & set(detect):
        if connectome is None:
            raise ConfigError("config: detect on the synthesized circuit needs a 'connectome' section (pathways)")
        if synthesis.get("out_cells_format") == "mvd3":
            raise ConfigError("config: detect reads SONATA nodes; set synthesis.out_cells_format to sonata")
        synthesis["out_cells_format"] = "sonata"
        extensions = synthesis.get("out_morph_ext", ["h5"])
        detect["sonata"] = {
            "nodes_file": f"{out}/synthesis/nodes.h5",
            "morphology_dir": f"{out}/synthesis/morphologies",
            "morphology_ext": "h5" if "h5" in extensions else extensions[0],
            "network_config": f"{out}/pathways/detect-config.json",
        }
    if prune is not None and connectome is not None and prune.get("config_file") is None:
        prune["config_file"] = f"{out}/pathways/prune-config.json"
    return config
