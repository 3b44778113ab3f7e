"""Replicating and synchronising an LDES over HTTP: every member exactly once, resumable.

See ``docs/replication.md``.
"""

from ldesfrag.replicate._replication import Replication, ReplicationStats, replicate

__all__ = ["Replication", "ReplicationStats", "replicate"]
