"""Airflow DAG file without DAGs: the Airflow modules the tenant DAG files import only when they
build a DAG that needs them, named here so that the DAG processor imports them once.

The DAG processor imports the ``airflow.*`` modules a DAG file names at its top level in its manager
process before it forks that file's parser (``[dag_processor] parsing_pre_import_modules``, on by
default), and the manager keeps them: every later parser of every file inherits them. Naming
``TriggerDagRunOperator`` in the shard files instead would make every task's own parse import it
(Airflow's ORM models, ~0.3 s); naming it nowhere makes every shard's parser import it (~0.4 s per
file and parse, issue #11: docs/benchmarks.md).
"""

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator  # noqa: F401
