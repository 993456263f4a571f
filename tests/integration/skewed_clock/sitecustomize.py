"""Started with this folder on PYTHONPATH, a Python process's project code (the loaders,
the shared package, the CLI) reads a clock shifted by CLOCK_SKEW_S seconds, as on a
worker whose clock drifted: `datetime.now()` / `utcnow()` / `today()` through the names
those modules import. Libraries and native code, the in-process warehouse emulator's
DuckDB included, keep the real clock (replacing datetime.datetime for everyone breaks
compiled extensions that check its size)."""

from __future__ import annotations

import datetime as _datetime
import importlib.abc
import importlib.machinery
import os
import sys
import types

_SKEW = _datetime.timedelta(seconds=float(os.environ.get("CLOCK_SKEW_S", "0")))
_PROJECT = {"loaders", "retail_lakehouse", "lakehouse_cli", "mock", "dashboard"}


class _SkewedDateTime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return super().now(tz) + _SKEW

    @classmethod
    def utcnow(cls):  # type: ignore[override]
        return super().utcnow() + _SKEW

    @classmethod
    def today(cls):  # type: ignore[override]
        return super().today() + _SKEW


_skewed_module = types.ModuleType("datetime")
_skewed_module.__dict__.update(vars(_datetime))
_skewed_module.datetime = _SkewedDateTime  # type: ignore[attr-defined]


class _SkewProjectClocks(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name.split(".")[0] not in _PROJECT:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: types.ModuleType) -> None:
            run(module)
            for attr, value in list(vars(module).items()):
                if value is _datetime.datetime:
                    setattr(module, attr, _SkewedDateTime)
                elif value is _datetime:
                    setattr(module, attr, _skewed_module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _SkewProjectClocks())
