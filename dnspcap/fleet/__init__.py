"""The analysis on a Dask cluster: many node captures, read where they lie.

:func:`analyze` (``dnspcap.analyze(files, client=...)``, ``dnspcap analyze --scheduler``)
groups the files into capture sets as the in-process run does, reads each set on a
worker (paths, or fsspec URLs such as ``s3://`` the worker can open), and combines the
sets' messages into the very table :func:`dnspcap.read_messages` returns; pairing,
lookups and detection then run as in process, so the findings are the in-process ones.
Without a client nothing here imports Dask: it is an optional extra
(``pip install 'dnspcap[dask]'``).
"""

from .cluster import connect, dashboard
from .dataset import export_dataset
from .run import analyze, read_messages

__all__ = ["analyze", "connect", "dashboard", "export_dataset", "read_messages"]
