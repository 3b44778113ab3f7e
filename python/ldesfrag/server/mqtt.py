"""Ingest from MQTT: each message on a subscribed topic is an ingest body for one collection,
taken through the same path as ``POST /{collection}`` (``Engine.parse``, then the group-commit
queue of ``Engine.ingest``).

What is guaranteed (``paho-mqtt``, MQTT 3.1.1, QoS 1, a persistent session: a fixed client id
and ``clean_session=False``): a message is acknowledged to the broker only once its members are
committed, or once it was refused for good (a body that cannot be read, an unknown or closed
collection: logged and counted in :attr:`MqttSubscriber.stats`, never retried). A message whose
commit failed (a store error) is not acknowledged, so the broker delivers it again when the
subscriber reconnects. Delivery is therefore at least once, and a redelivered member is ignored
by its IRI (one member per IRI) — unless the stream makes versions (``ldes:createVersions``),
whose IRIs are minted at ingest. Messages are queued for commit in the order they arrive.

Needs ``paho-mqtt`` (the ``server`` extra).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ldesfrag._formats import CONTENT_TYPES
from ldesfrag.exceptions import LdesfragError
from ldesfrag.server.engine import Engine, IngestError

if TYPE_CHECKING:
    import paho.mqtt.client as paho

__all__ = ["MqttConfig", "MqttSubscriber", "parse_broker", "parse_topic"]

log = logging.getLogger("ldesfrag.server")


@dataclass(frozen=True)
class MqttConfig:
    """A broker, and the collection each topic filter (``+`` and ``#`` allowed) feeds."""

    host: str
    port: int
    topics: dict[str, str]
    format: str = "turtle"
    client_id: str = "ldesfrag-server"
    keepalive: int = 60

    def __post_init__(self) -> None:
        if self.format not in CONTENT_TYPES:
            raise LdesfragError(
                f"mqtt format {self.format!r}: one of {', '.join(sorted(CONTENT_TYPES))}"
            )
        if not self.topics:
            raise LdesfragError("mqtt: at least one TOPIC=COLLECTION")


def parse_broker(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``; the port defaults to 1883)."""
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        host, port = text, "1883"
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LdesfragError(f"mqtt broker {text!r}: write HOST:PORT")
    return host, int(port)


def parse_topic(text: str) -> tuple[str, str]:
    """``TOPIC=COLLECTION``."""
    topic, sep, collection = text.rpartition("=")
    if not sep or not topic or not collection:
        raise LdesfragError(f"mqtt topic {text!r}: write TOPIC=COLLECTION")
    return topic, collection


@dataclass
class _Stats:
    received: int = 0
    committed: int = 0  # messages whose members are committed (or were all there already)
    members: int = 0
    refused: int = 0  # bad messages: logged, acknowledged, never retried
    failed: int = 0  # commits that failed: not acknowledged, delivered again on reconnect
    last_error: str | None = None


@dataclass
class MqttSubscriber:
    """Subscribes to ``config``'s topics and ingests each message into ``engine``."""

    engine: Engine
    config: MqttConfig
    stats: _Stats = field(default_factory=_Stats)
    #: Set once every topic is subscribed (after each connection).
    subscribed: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._client: paho.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connects in the background (reconnecting for ever) and starts consuming."""
        try:
            import paho.mqtt.client as paho
            from paho.mqtt.enums import CallbackAPIVersion
        except ImportError:
            raise LdesfragError(
                "MQTT ingest needs paho-mqtt: pip install 'ldesfrag[server]'"
            ) from None
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.config.client_id,
            clean_session=False,
            manual_ack=True,
        )
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        self._client = client
        self._consumer = asyncio.create_task(self._consume())
        client.connect_async(self.config.host, self.config.port, self.config.keepalive)
        client.loop_start()

    async def stop(self) -> None:
        """Disconnects, then waits for the messages already taken to be committed (those not
        acknowledged by then are delivered again at the next connection)."""
        if self._client is not None:
            client, self._client = self._client, None
            await asyncio.to_thread(self._disconnect, client)
        if self._consumer is not None and self._queue is not None:
            await self._queue.put(None)
            await self._consumer
            self._consumer = None
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    @staticmethod
    def _disconnect(client: paho.Client) -> None:
        client.disconnect()
        client.loop_stop()

    # ---- paho's network thread ----------------------------------------------------------------
    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning(
                "mqtt: connection to %s:%d refused: %s", self.config.host, self.config.port, reason
            )
            return
        log.info("mqtt: connected to %s:%d", self.config.host, self.config.port)
        client.subscribe([(topic, 1) for topic in self.config.topics])

    def _on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, props: Any
    ) -> None:
        failed = [r for r in reasons if r.is_failure]
        if failed:
            log.error("mqtt: subscription refused: %s", failed)
            return
        self.subscribed.set()

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self.subscribed.clear()
        if reason.is_failure:
            log.warning("mqtt: disconnected (%s); reconnecting", reason)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        assert self._loop is not None
        assert self._queue is not None
        self._loop.call_soon_threadsafe(self._queue.put_nowait, message)

    # ---- the event loop -----------------------------------------------------------------------
    def _collection(self, topic: str) -> str | None:
        import paho.mqtt.client as paho

        for sub, collection in self.config.topics.items():
            if paho.topic_matches_sub(sub, topic):
                return collection
        return None

    async def _consume(self) -> None:
        assert self._queue is not None
        while (message := await self._queue.get()) is not None:
            self.stats.received += 1
            collection = self._collection(message.topic)
            try:
                if collection is None:
                    raise IngestError(404, f"no collection for topic {message.topic!r}")
                parsed = await asyncio.to_thread(
                    self.engine.parse, collection, bytes(message.payload), self.config.format
                )
            except IngestError as e:
                self._refused(message, e.report)
                continue
            except Exception as e:  # a reader defect: refuse the message, keep consuming
                log.exception("mqtt: a message could not be read")
                self._refused(message, {"error": f"internal error: {e}"})
                continue
            # Queued for commit now, in arrival order; the commit is awaited apart so that
            # messages arriving meanwhile join the same group commit.
            task = asyncio.create_task(self._commit(message, parsed))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def _commit(self, message: paho.MQTTMessage, parsed: Any) -> None:
        try:
            status, report = await self.engine.ingest(parsed)
        except Exception as e:
            status, report = 500, {"error": f"internal error: {e}"}
        if status < 300:
            self.stats.committed += 1
            self.stats.members += int(report.get("members", 0))
            self._ack(message)
        elif status < 500:
            self._refused(message, report)
        else:
            self.stats.failed += 1
            self.stats.last_error = str(report.get("error"))
            log.error("mqtt: a message on %s was not committed: %s", message.topic, report)

    def _refused(self, message: paho.MQTTMessage, report: dict[str, Any]) -> None:
        self.stats.refused += 1
        self.stats.last_error = str(report.get("error"))
        log.warning("mqtt: a message on %s was refused: %s", message.topic, report)
        self._ack(message)

    def _ack(self, message: paho.MQTTMessage) -> None:
        client = self._client
        if client is not None and message.qos > 0:
            client.ack(message.mid, message.qos)
