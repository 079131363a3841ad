"""The sync pipelines, one module per DAG kind, each a sequence of plain functions.

Every step takes a ``RunContext`` and returns a JSON-able dict (it becomes the task's XCom, so the
Airflow UI shows what each step did). The Airflow layer (``hq_sync.airflow``) only builds the
context from the task's run and calls the step.
"""

from hq_sync.run import RunContext

__all__ = ["RunContext"]
