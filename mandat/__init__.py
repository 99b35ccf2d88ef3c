"""Mandat's processes: the `mandat` command line (cli.py, with data.py and staff.py; shell.py
is what their commands share), the server's start-up (server.py), the scheduler
(scheduler.py), and the project-local PostgreSQL cluster with its PgBouncer and its backups
(cluster.py, pooler.py, backup.py).

They drive `engine` (the rules) and `api` (the web layer); neither imports them back (the
import contracts in pyproject.toml, `make lint`).
"""
