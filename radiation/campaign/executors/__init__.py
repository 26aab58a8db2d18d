"""Campaign executors, chosen by name: ``local`` (processes on this machine) and
``ray`` (a Ray cluster; only when the optional ``ray`` package is installed)."""

from __future__ import annotations

import importlib

from node.errors import OrbnodeError
from radiation.campaign.executors.base import Executor
from radiation.campaign.runner import WorkSpec

EXECUTORS = {
    "local": ("radiation.campaign.executors.local", "LocalExecutor"),
    "ray": ("radiation.campaign.executors.ray_executor", "RayExecutor"),
}


def executor_class(name: str) -> type[Executor]:
    """The backend class for ``name``, or a one-line error (unknown, or ray missing)."""
    if name not in EXECUTORS:
        raise OrbnodeError(f"unknown --executor {name!r}; choose one of {', '.join(EXECUTORS)}")
    module, cls = EXECUTORS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "ray":
            raise OrbnodeError("--executor ray needs the optional 'ray' package, which is not "
                               "installed (pip install '.[ray]' or 'orbnode[ray]'); use "
                               "--executor local") from None
        raise
    return getattr(mod, cls)


def open_executor(name: str, spec: WorkSpec, workers: int, *, engine=None) -> Executor:  # noqa: ANN001
    """An executor of backend ``name`` with ``workers`` workers."""
    return executor_class(name)(spec, workers, engine=engine)


__all__ = ["EXECUTORS", "Executor", "executor_class", "open_executor"]
