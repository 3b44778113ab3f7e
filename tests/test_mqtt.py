"""MQTT ingest (ldesfrag.server.mqtt) against a real mosquitto broker on loopback, published to
with paho: every message's members are served; bad messages are counted and acknowledged; a
message whose commit failed is delivered again and then committed."""

from __future__ import annotations

import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from ldes_data import member_iri, members_nt
from paho.mqtt.enums import CallbackAPIVersion
from test_server import BASE, make_client, stream_config, walk
from test_server_live import request
from test_server_live import walk as walk_http

from ldesfrag.exceptions import LdesfragError
from ldesfrag.server import Engine
from ldesfrag.server.mqtt import MqttConfig, parse_broker, parse_topic

WAIT = 60.0  # seconds: the bound of every wait


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if found is None:
        pytest.fail(
            "mosquitto is missing: `make services` installs it (apt-get install mosquitto)",
            pytrace=False,
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def broker(tmp_path) -> Iterator[int]:
    """A mosquitto broker on 127.0.0.1 (a free port, a temporary configuration); its port."""
    binary = mosquitto_binary()
    port = free_port()
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    log = (tmp_path / "mosquitto.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            assert proc.poll() is None, (tmp_path / "mosquitto.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "mosquitto did not start listening"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(WAIT)
        log.close()


def publish(port: int, messages: list[tuple[str, bytes]], retain: bool = False) -> None:
    """Publishes each (topic, payload) with QoS 1 and waits until the broker has each."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id="test-publisher")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        infos = [client.publish(t, payload, qos=1, retain=retain) for t, payload in messages]
        for info in infos:
            info.wait_for_publish(WAIT)
            assert info.is_published()
    finally:
        client.disconnect()
        client.loop_stop()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def mqtt_client(tmp_path: Path, port: int, **kwargs):
    mqtt = MqttConfig(
        "127.0.0.1",
        port,
        {"sensors/observations": "observations", "misc/#": "nothing-here"},
        client_id="ldesfrag-test",
        **kwargs,
    )
    config = (stream_config().encode(), "text/turtle")
    return make_client(
        f"sqlite:///{tmp_path}/ldes.db", mqtt=mqtt, config=config, retention_interval=None
    )


def test_every_message_becomes_members_and_bad_ones_are_counted(tmp_path, broker):
    good = [("sensors/observations", members_nt(i, 20).encode()) for i in range(0, 200, 20)]
    bad = [
        ("sensors/observations", b"<http://example.org/a> <not rdf"),
        ("sensors/observations", b'<http://example.org/a> <http://example.org/p> "no member" .'),
        ("misc/elsewhere", members_nt(500, 2).encode()),  # no such collection
    ]
    with mqtt_client(tmp_path, broker) as c:
        sub = c.app.state.mqtt
        assert sub.subscribed.wait(WAIT), "the subscriber did not subscribe"
        # Bad messages between good ones, and a repeat: nothing stops the subscriber.
        publish(broker, good[:5] + bad + good[5:] + good[:1])
        total = len(good) + len(bad) + 1
        wait_for(
            lambda: sub.stats.committed + sub.stats.refused == total,
            f"not every message was handled: {sub.stats}",
        )
        assert (sub.stats.committed, sub.stats.refused, sub.stats.failed) == (11, 3, 0)
        assert sub.stats.members == 200  # the repeat added nothing
        for view in ("by-time", "by-tile"):
            members, _ = walk(c, f"{BASE}observations/{view}")
            assert members == {member_iri(i) for i in range(200)}, view
        # The same stream also takes POSTs meanwhile (one ingest path).
        r = c.post(
            "/observations",
            content=members_nt(200, 5),
            headers={"content-type": "application/n-triples"},
        )
        assert r.status_code == 201, r.text


def test_a_message_whose_commit_failed_is_delivered_again(tmp_path, broker, monkeypatch):
    """The acknowledgement follows the commit: a message not committed is not acknowledged,
    and the broker delivers it again when the subscriber comes back."""

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(Engine, "_store", disk_full)
        with mqtt_client(tmp_path, broker) as c:
            sub = c.app.state.mqtt
            assert sub.subscribed.wait(WAIT)
            publish(broker, [("sensors/observations", members_nt(0, 30).encode())])
            wait_for(lambda: sub.stats.failed == 1, f"the commit did not fail: {sub.stats}")
            assert sub.stats.committed == 0
    with mqtt_client(tmp_path, broker) as c:
        sub = c.app.state.mqtt
        wait_for(lambda: sub.stats.committed == 1, f"not delivered again: {sub.stats}")
        members, _ = walk(c, f"{BASE}observations/by-time")
        assert members == {member_iri(i) for i in range(30)}


def test_the_server_command_ingests_from_mqtt(tmp_path, broker):
    config = tmp_path / "stream.ttl"
    config.write_text(stream_config())
    # Retained: delivered whenever the server's subscription comes.
    publish(broker, [("sensors/obs", members_nt(0, 40).encode())], retain=True)
    exe = Path(sys.executable).with_name("ldesfrag")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--store",
            f"sqlite:///{tmp_path}/ldes.db",
            "--config",
            str(config),
            "--port",
            "0",
            "--mqtt-broker",
            f"127.0.0.1:{broker}",
            "--mqtt-topic",
            "sensors/obs=observations",
            "--mqtt-format",
            "ntriples",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: queue.Queue[str] = queue.Queue()
        # Read in a thread, so that a silent process cannot block the wait beyond its bound.
        threading.Thread(
            target=lambda: [lines.put(x) for x in proc.stderr or ()], daemon=True
        ).start()
        line = lines.get(timeout=WAIT)
        found = re.search(r"ldesfrag server: (\S+) on", line)
        assert found, line
        url = found[1]
        expected = {member_iri(i) for i in range(40)}
        deadline = time.monotonic() + WAIT
        while True:  # bounded: until the subscriber has committed the message
            try:
                if request(url + "observations")[0] == 200:
                    members, _ = walk_http(url, url, url + "observations/by-time")
                    if members == expected:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "the server stopped"
            assert time.monotonic() < deadline, "the members did not arrive"
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(WAIT)


def test_broker_and_topic_options():
    assert parse_broker("localhost:1884") == ("localhost", 1884)
    assert parse_broker("[::1]:1883") == ("::1", 1883)
    assert parse_broker("broker") == ("broker", 1883)
    assert parse_topic("a/+/b=observations") == ("a/+/b", "observations")
    for bad in ("host:port", ":1883", "host:0"):
        with pytest.raises(LdesfragError):
            parse_broker(bad)
    with pytest.raises(LdesfragError):
        parse_topic("no-collection")
    with pytest.raises(LdesfragError):
        MqttConfig("h", 1883, {"t": "c"}, format="csv")
