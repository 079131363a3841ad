# The production image of hq-sync: the official Airflow image plus hq-sync's pinned runtime
# requirements and the product itself (the hq_sync package, the DAG files, the plugins and
# include/: tenant files and mappings). docker-compose.yaml builds it (`build:`), so no host needs a
# checkout. No test package and no sandbox is in it: requirements-test.txt, src/sandboxes and tests/
# are for development only (docs/deployment.md#the-image).
#   docker build -t hq-sync-airflow:3.3.2 .      (or: docker compose build)
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/hq-sync/
RUN pip install --no-cache-dir -r /opt/hq-sync/requirements.txt -c /opt/hq-sync/constraints.txt
COPY --chown=airflow:0 pyproject.toml /opt/hq-sync/
COPY --chown=airflow:0 src/hq_sync /opt/hq-sync/src/hq_sync
RUN pip install --no-cache-dir --no-deps /opt/hq-sync && rm -rf /opt/hq-sync/src /opt/hq-sync/build
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
COPY --chown=airflow:0 include /opt/airflow/include
ENV HQ_SYNC_INCLUDE_DIR=/opt/airflow/include
