"""ldesfrag on Apache Spark: the same buckets, pages and published tree as one machine, with
the per-member work spread over a cluster (docs/spark.md). Needs ``pyspark``
(``pip install 'ldesfrag[spark]'``) and Java 17."""

from ldesfrag.spark._assign import SparkAssignment, assign, assign_with_report
from ldesfrag.spark._publish import publish
from ldesfrag.spark._read import ARRIVAL, SparkMembers, read_members
from ldesfrag.spark._session import session

__all__ = [
    "ARRIVAL",
    "SparkAssignment",
    "SparkMembers",
    "assign",
    "assign_with_report",
    "publish",
    "read_members",
    "session",
]
