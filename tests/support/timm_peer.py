"""timm's own scheduler, layer-decay and AGC code, loaded without timm's package init.

timm's ``__init__`` imports its layers, which need torchvision, and PyPI's torchvision does
not import beside this torch. The modules compared against need none of that: timm is
installed with ``--no-deps`` and its package is stood in for by an empty one.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


def _root() -> Path:
    spec = importlib.util.find_spec("timm")
    assert spec is not None, "timm is not installed"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _load(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@functools.cache
def timm() -> types.SimpleNamespace:
    """``scheduler`` (the package), ``param_groups`` (``timm.optim._param_groups``) and
    ``agc`` (``timm.utils.agc``)."""
    root = _root()
    if "timm" not in sys.modules:
        package = types.ModuleType("timm")
        package.__path__ = [str(root)]
        sys.modules["timm"] = package
        layers = types.ModuleType("timm.layers")
        layers.use_reentrant_ckpt = lambda: False  # all _manipulate needs of timm.layers
        sys.modules["timm.layers"] = layers
        manipulate = _load("timm.models._manipulate", root / "models" / "_manipulate.py")
        models = types.ModuleType("timm.models")
        models.group_parameters = manipulate.group_parameters
        sys.modules["timm.models"] = models
    scheduler = importlib.import_module("timm.scheduler")
    param_groups = _load("timm_peer_param_groups", root / "optim" / "_param_groups.py")
    agc = _load("timm_peer_agc", root / "utils" / "agc.py")
    return types.SimpleNamespace(scheduler=scheduler, param_groups=param_groups, agc=agc)
