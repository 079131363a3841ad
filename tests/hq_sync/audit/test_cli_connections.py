"""The audit CLI runs outside a task: it must find connections kept in Airflow's metadata database."""

from __future__ import annotations

from hq_sync.ops.audit import cli_connection


def test_connections_from_the_environment_and_from_airflows_database(airflow_db, monkeypatch):
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    monkeypatch.setenv("AIRFLOW_CONN_HQ_FROM_ENV", '{"conn_type": "http", "password": "env-secret"}')
    with create_session() as session:
        session.query(Connection).filter(Connection.conn_id == "hq_from_db").delete()
        session.add(Connection(conn_id="hq_from_db", conn_type="http", host="http://hq.example/v1", password="db-secret"))
    assert cli_connection("hq_from_env").password == "env-secret"
    assert (cli_connection("hq_from_db").host, cli_connection("hq_from_db").password) == ("http://hq.example/v1", "db-secret")
    assert cli_connection("hq_nowhere") is None
