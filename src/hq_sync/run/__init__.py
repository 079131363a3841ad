"""What every step of a run needs to know about the run it belongs to (``RunContext``).

Its own package below ``load`` and ``audit`` (and above ``config``, ``staging`` and ``clients``,
whose types it names): the loaders and audits take the context, and the pipelines that import them
build it, so it cannot live in ``pipelines`` without an import cycle.
"""

from hq_sync.run.context import Clients, RunContext, RunMode

__all__ = ["Clients", "RunContext", "RunMode"]
