"""A stand-in for torchvision, so that timm's package (models, layers) imports beside this
torch: PyPI's torchvision does not import beside the pinned CPU torch, and a ViT's forward
pass uses none of it. Only for the peer recipes; :func:`install` puts it on the import path.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types


class _Meta(type):
    """A stand-in class whose every attribute is a distinct stand-in (enum members too)."""

    def __getattr__(cls, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = _Meta(name, (), {})
        setattr(cls, name, value)
        return value


class _Any(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = _Meta(name, (), {"__init__": lambda self, *a, **k: None})
        setattr(self, name, cls)
        return cls


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, package: str = "torchvision") -> None:
        self.package = package

    def find_spec(self, name, path, target=None):
        if name == self.package or name.startswith(self.package + "."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _Any(spec.name)
        m.__path__ = []
        m.__version__ = "0.0"
        return m

    def exec_module(self, module):
        pass


def install(package: str = "torchvision") -> None:
    """Make ``import torchvision`` (and its submodules) give stand-ins, once; another
    ``package`` that a peer imports at its top but never uses in the tests (Composer's
    ``mcli``, the MosaicML platform's client) likewise."""
    if not any(isinstance(f, _Finder) and f.package == package for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(package))
