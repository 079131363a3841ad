"""The thin Airflow layer: DAG factory, hooks that turn Connections into clients, task entry points.

Nothing here runs at import time beyond defining functions: DAG parsing reads only the tenant
files (no network, database or Variable access).
"""
