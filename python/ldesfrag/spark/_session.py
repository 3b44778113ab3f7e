"""A SparkSession set up for ldesfrag (the workers run this Python; no UI)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ldesfrag.exceptions import LdesfragError

__all__ = ["session"]


def session(master: str | None = None, config: Mapping[str, str] | None = None) -> Any:
    """The active SparkSession, or a new one on ``master`` (e.g. ``local[2]``; default:
    ``SPARK_MASTER``, else what ``spark-submit`` says, else ``local[*]``) with ``config``.

    Python workers run this interpreter unless ``PYSPARK_PYTHON`` says otherwise (on a
    cluster, set it to the executors' Python with ldesfrag installed)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:  # pragma: no cover - depends on the environment
        raise LdesfragError("ldesfrag.spark needs pyspark: pip install 'ldesfrag[spark]'") from None
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("ldesfrag")
    master = master or os.environ.get("SPARK_MASTER")
    if master:
        builder = builder.master(master)
    elif "spark.master" not in (config or {}) and "PYSPARK_GATEWAY_PORT" not in os.environ:
        # Not under spark-submit (which says the master through its gateway): local mode.
        builder = builder.config("spark.master", "local[*]")
    settings = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false"}
    settings.update(config or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
