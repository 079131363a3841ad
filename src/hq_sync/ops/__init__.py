"""Operations for data engineers (product.md D2–D4, issue #7).

- ``airflow_api``: a small client of Airflow's public REST API (``/api/v2``), token auth.
- ``status``: the sync status of every tenant and source (staging database + Airflow REST API),
  served by the Airflow plugin in ``plugins/hq_sync_status_plugin.py`` as a page and as JSON.
- ``rerun_failed``: ``python -m hq_sync.ops.rerun_failed`` clears the failed tasks of the tenant
  DAGs whose latest run failed (D3).
- ``backfill``: ``python -m hq_sync.ops.backfill`` backfills a tenant and source (D2).
- ``alerts``: an Airflow notifier for failed tenant runs (off unless configured).

Nothing here reads Airflow's metadata database: Airflow is reached only through its REST API.
"""
