# The image docker-compose.yaml runs (AIRFLOW_IMAGE_NAME): the official Airflow image plus hq-sync's
# pinned requirements, installed with the same constraints as `make install` (docs/deployment.md).
# The project itself (src/, dags/, plugins/, include/) is mounted by the compose file, so code and
# tenant files change without a rebuild; rebuild when requirements.txt or constraints.txt change.
#   docker build -t hq-sync-airflow:3.3.2 .
FROM apache/airflow:3.3.2-python3.11
COPY requirements.txt constraints.txt /opt/hq-sync/
RUN pip install --no-cache-dir -r /opt/hq-sync/requirements.txt -c /opt/hq-sync/constraints.txt
