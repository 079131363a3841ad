"""Airflow DAG file: one sync DAG per tenant and source, generated from include/tenants/*.yaml.

All logic lives in the hq_sync library (src/hq_sync); this file only registers the DAGs.
"""

from hq_sync.airflow.dag_factory import build_dags

globals().update(build_dags())
