"""Airflow DAG file: shard 4 of the tenant DAGs generated from include/tenants/*.yaml.

Each tenant's DAGs live in one of hq_sync.airflow.dag_factory.SHARDS files (by a stable hash of its
id): the DAG processor parses the shards in parallel, a slow or broken tenant affects its shard at
most, and a running task parses only its own DAG. All logic lives in the hq_sync library.
"""

# The DAG processor imports the airflow modules a DAG file names once, before it forks a parser.
import airflow.sdk  # noqa: F401
from airflow.providers.standard.operators.python import PythonOperator  # noqa: F401

from hq_sync.airflow.dag_factory import build_dags

globals().update(build_dags(shard=4))
