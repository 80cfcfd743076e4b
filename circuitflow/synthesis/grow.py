"""Grow one cell in its atlas context: region-grower 1.6.0's per-cell synthesis (spec §4)."""

from __future__ import annotations

import copy
import inspect
import logging
import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import morphio
import numpy as np
from morph_tool.exceptions import NoDendriteException
from morph_tool.graft import graft_axon
from morph_tool.transform import rotate, transform
from neurots import NeuronGrower, NeuroTSError
from neurots import utils as neurots_utils
from neurots.generate import grower as neurots_grower
from neurots.generate import orientations as neurots_orientations
from neurots.generate import section as neurots_section
from neurots.generate import soma as neurots_soma
from neurots.generate import tree as neurots_tree
from neurots.generate.algorithms import barcode as neurots_barcode
from neurots.generate.algorithms import common as neurots_common
from neurots.generate.algorithms.common import TMDStop
from neurots.morphmath import rotation as neurots_rotation
from neurots.utils import COLS
from scipy.linalg import svd
from scipy.spatial.transform import Rotation
from scipy.special import expit
from tmd.Topology import analysis as tmd_analysis

import circuitflow.synthesis.lazy  # noqa: F401  (before NeuroTS: defers matplotlib.pyplot)
from circuitflow.synthesis import engine
from circuitflow.synthesis.kde import StatsForTmd

if TYPE_CHECKING:
    from circuitflow.synthesis.context_rules import CellRules

L = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
MIN_TARGET_PATH_DISTANCE = 1.0
MIN_TARGET_THICKNESS = 1.0
Y = np.array([0.0, 1.0, 0.0])
TYPE_NAMES = {
    morphio.SectionType.axon: "axon",
    morphio.SectionType.basal_dendrite: "basal_dendrite",
    morphio.SectionType.apical_dendrite: "apical_dendrite",
}


TMDStop.__deepcopy__ = engine.copy_tmd_stop


def barcode_bin_centers(ph, num_bins=100, min_bin=None, max_bin=None):
    """tmd.Topology.analysis.barcode_bin_centers with the bars x bins test vectorized: the same bin
    centres in the same (bar-major) order. TMDApicalAlgo calls it once per apical tree, and its
    per-element np.max/np.min took 70 ms there. Bars it cannot stack go to tmd's own loop."""
    ph_2d = [p[:2] for p in ph]
    try:
        pairs = np.asarray(ph_2d, dtype=float)
    except ValueError:
        return _tmd_barcode_bin_centers(ph, num_bins, min_bin, max_bin)
    if pairs.ndim != 2 or pairs.shape[0] == 0 or pairs.shape[1] == 0:
        return _tmd_barcode_bin_centers(ph, num_bins, min_bin, max_bin)
    if min_bin is None:
        min_bin = np.min(ph_2d)
    if max_bin is None:
        max_bin = np.max(ph_2d)
    bins = np.linspace(min_bin, max_bin, num_bins, dtype=float)
    bin_centers = 0.5 * (bins[:-1] + bins[1:])
    high, low = pairs.max(axis=1), pairs.min(axis=1)
    inside = (high[:, None] > bins[None, 1:num_bins]) & (low[:, None] < bins[None, : num_bins - 1])
    return bin_centers, list(bin_centers[np.nonzero(inside)[1]])


_tmd_barcode_bin_centers = tmd_analysis.barcode_bin_centers


class JsonDict(dict):
    """A dict of JSON data (dicts, lists, str, int, float, bool, None) that deep-copies fast.

    NeuroTS deep-copies a cell's distributions three times per neurite (persistence diagrams
    included); copy.deepcopy's generic memo and dispatch took about 30 ms per cell. The copy has the
    same values and nesting (JSON data has no shared references to preserve)."""

    def __deepcopy__(self, memo):
        return json_copy(self)


def json_copy(value):
    """Deep copy of JSON data, dicts as JsonDict, FrozenLists shared; anything else through copy.deepcopy.
    Values that are their own copy (SHARED types) are taken as they are without a call for each."""
    kind = type(value)
    if kind is dict or kind is JsonDict:
        return JsonDict({key: item if type(item) in SHARED else json_copy(item) for key, item in value.items()})
    if kind is list:
        return [item if type(item) in SHARED else json_copy(item) for item in value]
    if kind in SHARED:
        return value
    return copy.deepcopy(value)


class FrozenList(list):
    """A list of JSON numbers (or of such lists) that growth only reads: deep copies share it, and any
    change raises TypeError instead of reaching the other cells that share it.

    A cell's persistence diagrams and trunk distributions were deep-copied about ten times (by
    grow_cell, NeuroTS' _load_json, its legacy-name conversion at every nesting level and each tree's
    algorithm), element by element: about 8,000 copy calls a cell. Immutable data need no copy, as
    copy.deepcopy already shares tuples of numbers."""

    def __deepcopy__(self, memo):
        return self

    def __copy__(self):
        return list(self)

    def __reduce__(self):
        return (FrozenList, (list(self),))

    def _frozen(self, *args, **kwargs):
        raise TypeError("TMD parameters and distributions shared by cells must not be modified")

    append = extend = insert = pop = remove = clear = sort = reverse = _frozen
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _frozen


NUMBERS = (int, float, bool, FrozenList)
SHARED = frozenset((str, int, float, bool, type(None), FrozenList))  # json_copy's values shared, not copied


def frozen_json(value):
    """JSON data with every non-empty list of numbers (at any depth of list nesting) a FrozenList."""
    if type(value) is dict:
        return {key: frozen_json(item) for key, item in value.items()}
    if type(value) is list:
        items = [frozen_json(item) for item in value]
        if items and all(type(item) in NUMBERS for item in items):
            return FrozenList(items)
        return items
    return value


tmd_analysis.barcode_bin_centers = barcode_bin_centers
tmd_analysis.stats = StatsForTmd()  # its gaussian_kde without importing scipy.stats (synthesis/kde.py)


ROTATION_CACHE_SIZE = 100_000
_rotations: dict = {}
_rotation_around_axis = neurots_rotation.rotation_around_axis


def rotation_around_axis(axis, angle):
    """neurots' rotation_around_axis, remembered: the same matrix object (read-only) for the same axis
    (dtype, shape and bytes) and angle (type and repr, so -0.0 is not 0.0). Bifurcations rotate by
    their bar's angles around the x and z axes, and the bars of a mtype's few persistence diagrams
    recur from cell to cell: each fresh matrix cost about a dozen small numpy calls."""
    axis_array = np.asarray(axis)
    key = (axis_array.dtype.str, axis_array.shape, axis_array.tobytes(), *engine.exact_key(angle))
    matrix = _rotations.get(key)
    if matrix is None:
        if len(_rotations) >= ROTATION_CACHE_SIZE:
            _rotations.clear()
        matrix = _rotation_around_axis(axis, angle)
        matrix.setflags(write=False)
        _rotations[key] = matrix
    return matrix


neurots_rotation.rotation_around_axis = rotation_around_axis


# TMDApicalAlgo.bifurcate looks "directional" up in this dict at each major bifurcation
neurots_common.bif_methods["directional"] = engine.directional


ROUND_CACHE_SIZE = 100_000
_rounded: dict = {}
_round_num = neurots_barcode.round_num


def round_num(num, decimal_places=4):
    """neurots.basic.round_num (np.round), remembered by the number's type and repr (so -0.0 is not 0.0)
    and the decimals: Barcode rounds every bar's two ends for each tree, and the bars of a mtype's few
    persistence diagrams recur from cell to cell (np.round of a Python float costs a few microseconds).
    A non-zero, non-NaN Python float with int decimals is its own key (equal such floats have equal
    bits, and the 2-tuple equals no exact key)."""
    if type(num) is float and num == num and num and type(decimal_places) is int:
        key = (num, decimal_places)
    else:
        key = (*engine.exact_key(num), decimal_places)
    rounded = _rounded.get(key)
    if rounded is None:
        if len(_rounded) >= ROUND_CACHE_SIZE:
            _rounded.clear()
        rounded = _round_num(num, decimal_places)
        _rounded[key] = rounded
    return rounded


neurots_barcode.round_num = round_num


def clip_unit(value):
    """np.clip(value, 0.0, 1.0) for a float (numpy's max then min: NaN kept, -0.0 becomes 0.0)."""
    if not isinstance(value, float):
        return np.clip(value, 0.0, 1.0)
    if value != value:
        return np.float64(value)
    value = value if value > 0.0 else 0.0
    return np.float64(value if value < 1.0 else 1.0)


_create_section_parameters = neurots_tree._create_section_parameters


def create_section_parameters(input_dict):
    """neurots.generate.tree._create_section_parameters with its three np.clip and its np.isclose
    (sum within 1e-08 + 1e-05 of 1, finite) on Python floats; parameters that fail the check go to
    NeuroTS' own function, which raises its error."""
    randomness = clip_unit(input_dict["randomness"])
    targeting = clip_unit(input_dict["targeting"])
    history = clip_unit(1.0 - randomness - targeting)
    total = randomness + targeting + history
    if not (math.isfinite(total) and abs(total - 1.0) <= 1e-08 + 1e-05 * abs(1.0)):
        return _create_section_parameters(input_dict)
    parameters = neurots_tree.SectionParameters(
        randomness=randomness, targeting=targeting, scale_prob=neurots_tree.LAMBDA, history=history
    )
    neurots_tree.L.debug("Section Parameters: %s", parameters)
    return parameters


neurots_tree._create_section_parameters = create_section_parameters


def _all_close(point, center) -> bool:
    """np.allclose(point, center, rtol=0) for two float64 3-vectors (finite pairs within 1e-08,
    infinite ones equal)."""
    for a, b in zip(point.tolist(), center.tolist()):
        if math.isfinite(a) and math.isfinite(b):
            if not abs(a - b) <= 1e-08:
                return False
        elif a != b:
            return False
    return True


_orientation_from_point = neurots_soma.Soma.orientation_from_point


def orientation_from_point(self, point):
    """neurots Soma.orientation_from_point, its np.allclose test on Python floats for float64 3-vectors."""
    center = self.center
    if not (
        type(point) is np.ndarray
        and type(center) is np.ndarray
        and point.dtype == center.dtype == np.float64
        and point.shape == center.shape == (3,)
    ):
        return _orientation_from_point(self, point)
    if _all_close(point, center):
        raise ValueError("Point overlaps with soma center.")
    return neurots_soma.orientations.points_to_orientations(center, np.asarray([point]))[0]


neurots_soma.Soma.orientation_from_point = orientation_from_point


_get_probability_function = neurots_orientations.get_probability_function
PROB_NORM_CACHE_SIZE = 10_000
_prob_norms: dict = {}


def _prob_norm(key: tuple, prob) -> float:
    """max(prob(np.linspace(0, np.pi, 100))) (the step functions' normalisation), remembered by key."""
    norm = _prob_norms.get(key)
    if norm is None:
        if len(_prob_norms) >= PROB_NORM_CACHE_SIZE:
            _prob_norms.clear()
        norm = max(prob(np.linspace(0, np.pi, 100)))
        _prob_norms[key] = norm
    return norm


def get_probability_function(form="step", with_density=True):
    """neurots.generate.orientations.get_probability_function; without density, the `step` and
    `double_step` functions remember their normalisation (a Python max over 100 expit values, which
    NeuroTS recomputes for every trunk direction it proposes) per exact parameters, and clip with
    clip_unit. Everything else is NeuroTS' own."""
    if with_density or form not in ("step", "double_step"):
        return _get_probability_function(form=form, with_density=with_density)

    if form == "step":

        def single_prob(angle, scale, rate):
            def _prob(angle):
                return expit((angle - scale) / rate)

            p = _prob(angle) / _prob_norm(("step", engine.exact_key(scale), engine.exact_key(rate)), _prob)
            return clip_unit(p)

        return single_prob

    def double_prob(angle, scale_low, rate_low, scale_high, rate_high):
        def _prob(angle):
            return 0.5 * (expit((angle - scale_low) / rate_low) + expit((-angle - scale_high) / rate_high))

        key = ("double_step", *map(engine.exact_key, (scale_low, rate_low, scale_high, rate_high)))
        p = _prob(angle) / _prob_norm(key, _prob)
        return clip_unit(p)

    return double_prob


neurots_orientations.get_probability_function = get_probability_function


class ModeMethods(dict):
    """OrientationManagerBase._modes: mode name -> the manager's `_mode_<name>` method, as NeuroTS'
    _collect_mode_methods maps them, each bound when looked up (getattr, as inspect.getmembers binds
    it) through a weak reference: the manager then holds no reference cycle and is freed with its cell."""

    def __init__(self, manager, attributes: dict):
        super().__init__(attributes)
        self.manager = weakref.ref(manager)

    def __getitem__(self, name):
        return getattr(self.manager(), dict.__getitem__(self, name))


class OrientationManager(neurots_orientations.OrientationManager):
    """NeuroTS' OrientationManager with its mode methods found by inspect.getmembers once per class (it
    took about 0.1 ms a cell) and bound on lookup (ModeMethods)."""

    _mode_attributes: dict = {}

    def _collect_mode_methods(self):
        kind = type(self)
        attributes = OrientationManager._mode_attributes.get(kind)
        if attributes is None:
            methods = inspect.getmembers(self, predicate=inspect.ismethod)
            attributes = {name.replace("_mode_", ""): name for name, _ in methods if name.startswith("_mode_")}
            OrientationManager._mode_attributes[kind] = attributes
        return ModeMethods(self, attributes)


_section_grower_init = neurots_section.SectionGrower.__init__


def section_grower_init(
    self,
    parent,
    children,
    first_point,
    direction,
    parameters,
    process,
    stop_criteria,
    step_size_distribution,
    pathlength,
    context=None,
    random_generator=np.random,
):
    """neurots SectionGrower.__init__ with its np.isclose(norm, 0.0) as `abs(norm) <= 1e-08` (the same
    test: False for NaN and infinities) and the norm computed once (NeuroTS computes it twice)."""
    self.parent = parent
    self.id = None
    length = neurots_section.vectorial_norm(direction)
    assert not abs(length) <= 1e-08 + 1e-05 * abs(0.0), "Nan direction not recognized"
    self.direction = direction / length
    self.children = children
    self.points = [np.array(first_point[:3])]

    self.params = parameters

    self.stop_criteria = stop_criteria
    self.process = process
    self.latest_directions = neurots_section.deque(maxlen=neurots_section.MEMORY)
    self.context = context
    self._rng = random_generator
    self.step_size_distribution = step_size_distribution
    self.pathlength = 0 if parent is None else pathlength


neurots_section.SectionGrower.__init__ = section_grower_init


def convert_from_legacy_neurite_type(data):
    """neurots.utils.convert_from_legacy_neurite_type (in place: basal -> basal_dendrite, apical ->
    apical_dendrite, keys and list items at any depth) without its deep copy of every level: upstream
    copies each dict only to iterate over its items and read their types while it renames and recurses
    into the dict itself, so a snapshot of the items gives the same walk. NeuroTS' _load_json calls it
    on each cell's parameters and distributions (about 11k deepcopy calls per 250 cells). FrozenLists
    (numbers only, no names to rename) are not walked."""
    for key, _data in list(data.items()):
        if key == "apical":
            neurots_utils.neurite_type_warning(key)
            data["apical_dendrite"] = data.pop("apical")
            key = "apical_dendrite"
        if key == "basal":
            neurots_utils.neurite_type_warning(key)
            data["basal_dendrite"] = data.pop("basal")
            key = "basal_dendrite"
        if isinstance(_data, dict):
            data[key] = convert_from_legacy_neurite_type(data[key])
        if isinstance(_data, list) and type(_data) is not FrozenList:  # a FrozenList holds no names
            for i, d in enumerate(list(_data)):
                if d == "apical":
                    neurots_utils.neurite_type_warning(key)
                    data[key][i] = "apical_dendrite"
                if d == "basal":
                    neurots_utils.neurite_type_warning(key)
                    data[key][i] = "basal_dendrite"
    return data


neurots_grower.convert_from_legacy_neurite_type = convert_from_legacy_neurite_type


def point_to_section_segment(neuron, point, rtol=1e-05, atol=1e-08):
    """neurots.utils.point_to_section_segment with one np.isclose over every section's points (stacked
    in neuron.iter() order, as MorphIO's read-only copy holds them) instead of one per section: the
    first matching row is the first section's first match, as upstream finds it (isclose is elementwise,
    and its non-finite branch gives finite elements the same answer); the section's id is found in the
    connectivity's pre-order (rescale.preorder), without MorphIO's iterator. NeuronGrower._post_grow
    finds each apical point this way."""
    from circuitflow.synthesis.rescale import preorder

    read_only = neuron.as_immutable()
    offsets = read_only.section_offsets.astype(np.int64)
    if len(offsets) < 2:
        raise ValueError(f"Cannot find point in morphology that matches: {point}")
    stacked = read_only.points
    rows = np.flatnonzero(np.isclose(stacked[:, COLS.XYZ], point[COLS.XYZ], rtol=rtol, atol=atol).all(axis=1))
    if not rows.size:
        raise ValueError(f"Cannot find point in morphology that matches: {point}")
    index = int(np.searchsorted(offsets[1:], rows[0], side="right"))
    children = neuron.connectivity
    ids = [section_id for root in neuron.root_sections for section_id in preorder(children, root.id)[0]]
    return ids[index], rows[0] - offsets[index]


neurots_grower.point_to_section_segment = point_to_section_segment


neurots_post_grow = neurots_grower.NeuronGrower._post_grow


def post_grow(self):
    """neurots NeuronGrower._post_grow with each apical section found by neuron.section(id) rather than
    in neuron.sections, a dict of every section MorphIO builds for each lookup."""
    apical_points = [
        self.neuron.section(apical_section).points[-1] if apical_section is not None else None
        for apical_section in self.apical_sections
    ]
    self.neuron = neurots_grower.Morphology(self.neuron)  # section ids as MorphIO's loader numbers them
    self.apical_sections = [
        point_to_section_segment(self.neuron, apical_point)[0] if apical_point is not None else None
        for apical_point in apical_points
    ]


neurots_grower.NeuronGrower._post_grow = post_grow


class SkipSynthesisError(Exception):
    """The cell cannot be synthesized; it is dropped (region-grower's SkipSynthesisError)."""


class RegionGrowerError(Exception):
    """A context computation failed for this cell; it is dropped (region-grower's error)."""


@dataclass
class CellContext:
    """Everything one cell's synthesis depends on, besides its seed."""

    position: np.ndarray  # soma position (3,)
    orientation: np.ndarray  # 3x3 atlas rotation
    mtype: str
    current_depth: float  # soma depth below pia (NaN when unknown)
    layer_depths: list | None  # [0, t1, t1+t2, ...] or None
    cortical_depths: list | None  # cumsum of the reference thicknesses, or None
    params: dict  # NeuroTS parameters (normalized, legacy names converted)
    distributions: dict  # NeuroTS distributions
    axon_path: str | None = None  # donor morphology file (None: no grafting)
    axon_scale: float | None = None
    rotational_jitter_std: float | None = None
    scaling_jitter_std: float | None = None
    min_hard_scale: float = 0.2
    with_debug: bool = False
    rules: CellRules | None = None  # when the region block has directions/boundaries


@dataclass
class GrowResult:
    """A synthesized neuron (soma-centred, global axes) with its apical data."""

    neuron: morphio.mut.Morphology
    apical_sections: list
    apical_points: list
    debug_infos: dict


# --------------------------------------------------------------------------- geometry (§4.2)
def target_reference_thickness(
    depth: float, layer_depths: list | None, cortical_depths: list | None
) -> tuple[float, float]:
    """Local bottom of the soma's layer and the same layer's bottom in the reference column."""
    if cortical_depths is None:
        return 1, 1
    rounded = np.round(depth, 3)
    for i in range(1, len(cortical_depths) + 1):
        if rounded <= np.round(layer_depths[i], 3):
            return layer_depths[i], cortical_depths[i - 1]
    raise RegionGrowerError(f"Current depth ({depth}) is outside of circuit boundaries")


def layer_position(layer_depths: list, layer: int, fraction: float) -> float:
    """Depth of the level at `fraction` (0 bottom, 1 top) of 1-based `layer`."""
    thickness = layer_depths[layer] - layer_depths[layer - 1]
    if thickness <= 0:
        raise SkipSynthesisError(f"Layer {layer} has no/negative thickness")
    return layer_depths[layer - 1] + (1 - fraction) * thickness


def constraint_distance(depth: float, layer_depths: list | None, constraint: dict | None):
    """Height of a constraint level above the soma, or None when it does not apply."""
    if not constraint:
        return None
    if layer_depths is None or len(layer_depths) == 0 or np.all(np.isnan(layer_depths)):
        return None
    dist = depth - layer_position(layer_depths, constraint["layer"], constraint["fraction"])
    if np.isnan(dist):
        raise SkipSynthesisError("Nan in some PH values")
    return dist


# --------------------------------------------------------------------------- barcode scaling
def _tmd_scale(barcode: np.ndarray, thickness) -> list:
    """tmd.Topology.transformations.tmd_scale on the barcode already converted to an array."""
    scaling_factor = np.ones(len(barcode[0]), dtype=float)
    scaling_factor[:2] = thickness
    return np.multiply(barcode, scaling_factor).tolist()


def scale_default_barcode(ph, context, reference_thickness, target_thickness, with_debug_info=False):
    """Scale a barcode by the ratio of local to reference layer thickness (region-grower); the
    barcode converted to an array once, for np.nanmax and tmd_scale both."""
    ph = np.asarray(ph)
    max_p = np.nanmax(ph, axis=0)[0]
    if reference_thickness != 1 and target_thickness != 1:
        scaling_reference = min(reference_thickness / max_p, 1.0)
        scaling_ratio = scaling_reference * target_thickness / reference_thickness
    else:
        max_p = None
        scaling_ratio = 1.0
    if with_debug_info:
        context["debug_data"]["default_func"]["scaling"].append({"max_ph": max_p, "scaling_ratio": scaling_ratio})
    return _tmd_scale(ph, scaling_ratio)


def scale_target_barcode(ph, context, target_path_distance, with_debug_info=False):
    """Scale a barcode so that its longest bar reaches the target path distance (converted once)."""
    ph = np.asarray(ph)
    max_ph = np.nanmax(ph, axis=0)[0]
    scaling_ratio = target_path_distance / max_ph
    if with_debug_info:
        context["debug_data"]["target_func"]["scaling"].append({"max_ph": max_ph, "scaling_ratio": scaling_ratio})
    return _tmd_scale(ph, scaling_ratio)


def _input_scaling(params, cell: CellContext, target, reference, debug: dict, key: str, extent):
    """One pass of region-grower's `input_scaling` over grow_types (§4.2 step 5)."""
    for neurite_type in params["grow_types"]:
        if (neurite_type == "apical_dendrite" and key == "apical" and extent is not None) or (
            neurite_type == "basal_dendrite" and key == "basal" and extent is not None
        ):
            fit = cell.params["context_constraints"][neurite_type]["extent_to_target"]
            tpd = fit["slope"] * extent + fit["intercept"]
            if tpd < MIN_TARGET_PATH_DISTANCE:
                raise RegionGrowerError(
                    f"The target path distance computed for '{neurite_type}' from the fit is "
                    f"{tpd} < {MIN_TARGET_PATH_DISTANCE}!"
                )
            kwargs = {"target_path_distance": tpd, "with_debug_info": cell.with_debug}
            params[neurite_type]["modify"] = {"funct": scale_target_barcode, "kwargs": kwargs}
            if cell.with_debug:
                debug["target_func"] = {
                    "inputs": {
                        "fit_slope": fit["slope"],
                        "fit_intercept": fit["intercept"],
                        f"{key}_target_extent": extent,
                        "target_path_distance": tpd,
                        "min_target_path_distance": MIN_TARGET_PATH_DISTANCE,
                    },
                    "scaling": [],
                }
        elif neurite_type != "axon":
            if target < MIN_TARGET_THICKNESS:
                raise RegionGrowerError(
                    f"The target thickness {target} is too small to be able to scale the bar "
                    f"code with {MIN_TARGET_THICKNESS}"
                )
            kwargs = {
                "reference_thickness": reference,
                "target_thickness": target,
                "with_debug_info": cell.with_debug,
            }
            params[neurite_type]["modify"] = {"funct": scale_default_barcode, "kwargs": kwargs}
            if cell.with_debug:
                debug["default_func"] = {
                    "inputs": {
                        "target_thickness": target,
                        "reference_thickness": reference,
                        "min_target_thickness": MIN_TARGET_THICKNESS,
                    },
                    "scaling": [],
                }


def correct_parameters(cell: CellContext, context: dict, debug: dict) -> dict:
    """Deep-copy the parameters and apply orientation, thickness and extent corrections.

    The copy is a JsonDict (the parameters are JSON data): NeuroTS deep-copies them again once per cell
    and each tree's algorithm its type's block, and JsonDict copies skip copy.deepcopy's generic walk."""
    params = json_copy(cell.params)
    u_c = cell.orientation.dot(Y)
    for neurite_type in params["grow_types"]:
        orientation = params[neurite_type].get("orientation")
        if isinstance(orientation, dict):
            context["y_direction"] = u_c
        elif orientation is not None:
            params[neurite_type]["orientation"] = [cell.orientation.dot(np.asarray(v)).tolist() for v in orientation]

    target, reference = target_reference_thickness(cell.current_depth, cell.layer_depths, cell.cortical_depths)
    constraints = params.get("context_constraints", {})
    apical_extent = constraint_distance(
        cell.current_depth,
        cell.layer_depths,
        constraints.get("apical_dendrite", {}).get("extent_to_target"),
    )
    _input_scaling(params, cell, target, reference, debug, "apical", apical_extent)
    basal_fit = constraints.get("basal_dendrite", {}).get("extent_to_target")
    if basal_fit is not None:
        basal_extent = constraint_distance(cell.current_depth, cell.layer_depths, basal_fit)
        _input_scaling(params, cell, target, reference, debug, "basal", basal_extent)
    return params


# --------------------------------------------------------------------------- hard limits (§4.5)
ORIGIN = np.array((0, 0, 0))  # morph_tool.transform's origin: an int array, so `p - ORIGIN` is float64


def translated(points: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """morph_tool.transform.translate's new points (`origin + func(points - origin)`, func adding
    `shift`), before MorphIO stores them as float32."""
    return ORIGIN + ((points - ORIGIN) + shift)


def apply_hard_limits(neuron, cell: CellContext, debug: dict) -> None:
    """morph_tool's translate(neuron, -cell.position), then rescale (or delete) each neurite whose
    extent along the pia axis breaks a hard limit (neuroc's scale_section, even at scale 1: RG-13,
    computed in one pass by rescale.scale_subtree). The neurites' points are read from MorphIO at once
    (its read-only copy holds every section's points in root.iter() order, neurite after neurite) and
    each section's written once: translated here, stored by scale_subtree (as translate would have
    stored them, then read them back, as float32). Sections are found by id, in the pre-order of the
    morphology's connectivity, rather than by MorphIO's iterator (a few microseconds a section)."""
    shift = -np.asarray(cell.position, dtype=float)
    neuron.soma.points = translated(neuron.soma.points, shift)
    u_c = cell.orientation.dot(Y)
    constraints = cell.params.get("context_constraints", {})
    from circuitflow.synthesis.rescale import preorder, scale_subtree  # numba: loaded on the first cell

    children = neuron.connectivity
    read_only = neuron.as_immutable()
    offsets = read_only.section_offsets.astype(np.int64)
    every_point = read_only.points
    first = 0
    for root in neuron.root_sections:
        type_name = TYPE_NAMES[root.type]
        cons = constraints.get(type_name, {})
        t_min = constraint_distance(cell.current_depth, cell.layer_depths, cons.get("hard_limit_min"))
        t_max = constraint_distance(cell.current_depth, cell.layer_depths, cons.get("hard_limit_max"))
        ids, parents = preorder(children, root.id)
        last = first + len(ids)
        starts = offsets[first : last + 1] - offsets[first]
        points = translated(every_point[offsets[first] : offsets[last]], shift).astype(np.float32)
        first = last
        y_extent = points.dot(u_c).max() - points[0].dot(u_c)
        scale = 1
        if np.round(y_extent, 3) == 0:
            scale = 1
        elif t_min is not None and t_min / y_extent > 1:
            scale = t_min / y_extent
        elif t_max is not None and t_max / y_extent < 1:
            scale = t_max / y_extent
        deleted = False
        if scale > cell.min_hard_scale:
            scale_subtree(root, scale, points, ([neuron.section(i) for i in ids], parents, starts))
        elif root.type == morphio.SectionType.apical_dendrite:
            raise RegionGrowerError(f"Apical is removed because rescale = {scale}")
        else:
            neuron.delete_section(root, recursive=True)
            deleted = True
        if cell.with_debug and scale != 1:
            debug.setdefault("neurite_hard_limit_rescaling", {})[root.id] = {
                "neurite_type": type_name,
                "scale": scale,
                "target_min_length": t_min,
                "target_max_length": t_max,
                "deleted": deleted,
            }


# --------------------------------------------------------------------------- grafting (§4.6)
def _principal_direction(section) -> np.ndarray:
    """First principal axis of the normed directions from a section's start to its subtree points.

    As neuroc's, but always with an exact SVD: neuroc lets scikit-learn pick a randomized solver,
    seeded from the global RNG, for subtrees over 500 points, which makes runs irreproducible (RG-32).
    """
    p0 = section.points[0]
    points = np.vstack([child.points[1:] - p0 for child in section.iter()])
    norms = np.linalg.norm(points, axis=1)
    mask = norms > 0
    directions = (points[mask].T / norms[mask]).T
    return first_principal_axis(directions)


def first_principal_axis(x: np.ndarray) -> np.ndarray:
    """PCA(n_components=1, svd_solver="full").fit(x).components_[0], by the same numpy and scipy calls
    as scikit-learn 1.4 (copy keeping the memory layout, mean, in-place centring, scipy's gesdd SVD, sign
    of the largest |u|), without its per-call validation (most of its time on these small arrays).
    Inputs scikit-learn would reject go to scikit-learn, for its errors."""
    if x.ndim != 2 or x.shape[0] < 1 or x.dtype != np.float64 or not np.isfinite(x).all():
        from sklearn.decomposition import PCA  # scikit-learn loads in 0.15 s: only for the inputs it rejects

        return PCA(n_components=1, svd_solver="full").fit(x).components_[0]
    x = np.array(x, copy=True)
    x -= np.mean(x, axis=0)
    u, _, vt = svd(x, full_matrices=False)
    return vt[0] * np.sign(u[np.argmax(np.abs(u[:, 0])), 0])


def _rotational_jitter(section, std_angle: float, rng, piece_number: int = 5) -> None:
    """neuroc's rotational jitter (mean 0, degrees, post-order draws), deterministic PCA."""
    for child in section.children:
        _rotational_jitter(child, std_angle, rng, piece_number)
    if section.is_root:
        return
    if not section.children:
        parent = section.parent
        direction = parent.points[-1] - parent.points[-int(min(piece_number, len(parent.points)))]
    else:
        direction = _principal_direction(section)
    direction /= np.linalg.norm(direction)
    theta = rng.normal(0.0, std_angle) * np.pi / 180.0
    rotate(section, Rotation.from_rotvec(theta * direction).as_matrix(), origin=section.points[0])


def load_donor(path: str) -> morphio.mut.Morphology:
    """Load an axon donor as a mutable morphology; a missing file drops the cell."""
    try:
        return morphio.mut.Morphology(path)
    except morphio.MorphioError as exc:
        name = Path(path).stem
        raise SkipSynthesisError(f"Unable to find the morphology {name} in {path}") from exc


def graft_donor_axon(neuron, donor, cell: CellContext, rng: np.random.Generator) -> None:
    """Rotate, jitter and graft the donor's axon onto the synthesized neuron."""
    donor = load_donor(cell.axon_path)
    theta = rng.uniform(-np.pi, np.pi, size=1)
    rot_y = np.zeros((1, 3, 3))
    rot_y[:, 0, 0] = np.cos(theta)
    rot_y[:, 0, 2] = np.sin(theta)
    rot_y[:, 1, 1] = 1
    rot_y[:, 2, 0] = -np.sin(theta)
    rot_y[:, 2, 2] = np.cos(theta)
    matrix = np.identity(4)
    matrix[:3, :3] = np.matmul(cell.orientation, rot_y[0])
    if cell.axon_scale is not None:
        matrix = matrix * cell.axon_scale
    transform(donor, matrix)
    if cell.rotational_jitter_std is not None:
        for root in donor.root_sections:
            _rotational_jitter(root, cell.rotational_jitter_std, rng)
    if cell.scaling_jitter_std is not None:
        from neuroc.scale import ScaleParameters, scale_morphology  # imports scikit-learn (0.15 s): only when used

        scale_morphology(donor, section_scaling=ScaleParameters(std=cell.scaling_jitter_std), rng=rng)
    graft_axon(neuron, donor, rng=rng)


# --------------------------------------------------------------------------- one cell
def _grow_once(cell: CellContext, rng: np.random.Generator, debug_infos: dict, external_diametrizer, compiled: bool):
    """One synthesis attempt, steps (a) to (f) of §4."""
    # NeuroTS deep-copies the context for every trunk (and every section it grows itself): without rules,
    # it holds only JSON data and arrays, which a JsonDict copies without copy.deepcopy's generic walk
    # (rules' constraints may share objects, which only copy.deepcopy's memo keeps shared)
    context: dict = {"debug_data": debug_infos["input_scaling"]}
    if cell.rules is None:
        context = JsonDict(context)
    params = correct_parameters(cell, context, debug_infos["input_scaling"])
    params["origin"] = np.asarray(cell.position, dtype=float)
    donor = load_donor(cell.axon_path) if cell.axon_path is not None else None
    if cell.rules is not None:
        add_rule_constraints(cell, context, debug_infos)
    grower = NeuronGrower(
        input_parameters=params,
        input_distributions=JsonDict(cell.distributions),  # NeuronGrower deep-copies it (json_copy)
        external_diametrizer=external_diametrizer,
        skip_preprocessing=True,
        context=context,
        rng_or_seed=rng,
        trunk_orientations_class=OrientationManager,
    )
    neuron = engine.grow(grower, compiled)
    apply_hard_limits(neuron, cell, debug_infos)  # translates the neuron to the origin first
    if donor is not None:
        graft_donor_axon(neuron, donor, cell, rng)
    apical_points = [neuron.sections[i].points[-1] for i in grower.apical_sections]
    return GrowResult(neuron, list(grower.apical_sections), apical_points, debug_infos)


def add_rule_constraints(cell: CellContext, context: dict, debug_infos: dict) -> None:
    """Direction then boundary rules as NeuroTS constraints (§4.3); the last rule's mesh name to debug."""
    from circuitflow.synthesis.context_rules import constraints

    rules = constraints(
        cell.rules,
        cell.mtype,
        cell.orientation.dot(Y),
        np.asarray(cell.position, dtype=float),
        cell.current_depth,
        cell.layer_depths,
    )
    context["constraints"] = rules
    if rules and "mesh_name" in rules[-1]:
        debug_infos["mesh_name"] = rules[-1]["mesh_name"]


def grow_cell(cell: CellContext, seed: int, engine_name: str = "compiled") -> GrowResult:
    """Synthesize one cell with up to 10 attempts on one generator seeded with `seed`.

    `engine_name` ("compiled" or "neurots") never changes the result: a cell the compiled engine cannot
    vouch for is grown again, from its seed, by NeuroTS' own loop.
    """
    if engine_name not in engine.ENGINES:
        raise ValueError(f"synthesis.engine must be one of {list(engine.ENGINES)}, not {engine_name!r}")
    if engine_name == "compiled":
        try:
            return _grow_cell(cell, seed, compiled=True)
        except engine.EngineFallback as exc:
            L.warning("compiled engine: %s; growing the cell with NeuroTS", exc)
    return _grow_cell(cell, seed, compiled=False)


def _grow_cell(cell: CellContext, seed: int, compiled: bool) -> GrowResult:
    """grow_cell with one engine."""
    rng = np.random.default_rng(seed)
    debug_infos: dict = {"input_scaling": {}}
    external = None
    if cell.params.get("diameter_params", {}).get("method") == "external":
        from diameter_synthesis.build_diameters import build as external

    for _ in range(MAX_ATTEMPTS):
        try:
            return _grow_once(cell, rng, debug_infos, external, compiled)
        except (NeuroTSError, ValueError) as exc:
            L.debug("Synthesis attempt failed: %s", exc, exc_info=True)
    raise SkipSynthesisError("Too many attempts at synthesizing cell with NeuroTS")


DROP_ERRORS = (SkipSynthesisError, RegionGrowerError, NoDendriteException)
