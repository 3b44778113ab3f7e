"""``ldesfrag.server``: a live LDES server, a drop-in for the reference (VSDS / OpenLDES) LDES
server's URLs and admin configuration, on ldesfrag's fragmenter and renderer.

Not the static ``ldesfrag serve DIR`` (``ldesfrag._serve``), which serves a published
directory: this one ingests members over HTTP, fragments them as they come and keeps every node
rendered in a store (``docs/architecture.md``, "The live server")::

    from ldesfrag.server import create_app, open_store
    app = create_app(open_store("sqlite:///ldes.db"), "http://127.0.0.1:8080/")
    # uvicorn.run(app, host="127.0.0.1", port=8080), or `ldesfrag server`

Retention (``ldesfrag.server.retention``) drops the expired pages of views with an
``ldes:retentionPolicy``; ``create_app(…, mqtt=MqttConfig(…))`` also ingests from an MQTT broker
(``ldesfrag.server.mqtt``). ``open_store("postgresql://…")`` is the PostgreSQL store
(``ldesfrag.server.postgres``), which several server processes may share.

Needs the ``server`` extra (Starlette, uvicorn, rdflib, pyarrow, paho-mqtt, psycopg).
"""

from ldesfrag.server.app import DEFAULT_MAX_BODY, create_app, listen, negotiate
from ldesfrag.server.config import ConfigError, StreamConfig, ViewConfig, parse_stream, parse_view
from ldesfrag.server.engine import Engine, IngestError
from ldesfrag.server.mqtt import MqttConfig
from ldesfrag.server.retention import run_retention
from ldesfrag.server.sqlite import SQLiteStore
from ldesfrag.server.store import Store, StoreBusy, StoreError, Transaction, open_store

__all__ = [
    "DEFAULT_MAX_BODY",
    "ConfigError",
    "Engine",
    "IngestError",
    "MqttConfig",
    "SQLiteStore",
    "Store",
    "StoreBusy",
    "StoreError",
    "StreamConfig",
    "Transaction",
    "ViewConfig",
    "create_app",
    "listen",
    "negotiate",
    "open_store",
    "parse_stream",
    "parse_view",
    "run_retention",
]
