"""The HTTP surface: the reference server's admin API, ingest and fetch URLs (Starlette)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from ldesfrag._formats import CONTENT_TYPES, RdfFormat
from ldesfrag._render import cache_control, etag, if_none_match, render_page
from ldesfrag._urls import parse_node_url
from ldesfrag.exceptions import NodeUrlError
from ldesfrag.server.config import ConfigError, parse_stream, parse_view, retention_triples
from ldesfrag.server.engine import Engine, IngestError, LiveStream, LiveView
from ldesfrag.server.mqtt import MqttConfig, MqttSubscriber
from ldesfrag.server.retention import retention_loop
from ldesfrag.server.store import Store, StoreBusy, StoreError

__all__ = ["DEFAULT_MAX_BODY", "create_app", "listen", "negotiate"]

log = logging.getLogger("ldesfrag.server")
#: The largest request body taken (ingest and admin), in bytes; larger ones are answered 413.
DEFAULT_MAX_BODY = 16 << 20
ADMIN = "/admin/api/v1/eventstreams"
#: Bodies up to this many bytes are parsed on the event loop: a worker thread's round trip
#: costs more than reading a few members (the reader keeps the GIL for small inputs anyway).
_INLINE_PARSE = 8 << 10

_MEDIA: dict[str, RdfFormat] = {media: fmt for fmt, media in CONTENT_TYPES.items()}
#: What a wildcard gets: Turtle, the reference server's default.
_WILDCARDS: dict[str, RdfFormat] = {"*/*": "turtle", "text/*": "turtle", "application/*": "nquads"}
#: rdflib's serializer per format (N-Triples is valid N-Quads, Turtle valid TriG: the
#: documents built with rdflib have only a default graph).
_RDFLIB: dict[str, str] = {
    "turtle": "turtle",
    "ntriples": "nt",
    "nquads": "nt",
    "trig": "turtle",
    "jsonld": "json-ld",
}


def negotiate(accept: str | None) -> RdfFormat | None:
    """The format to answer an ``Accept`` header with (Turtle without one); None when no
    format is acceptable (406)."""
    if accept is None or not accept.strip():
        return "turtle"
    best: tuple[float, int, int, RdfFormat] | None = None
    for i, item in enumerate(accept.split(",")):
        media, *params = item.split(";")
        media = media.strip().lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if media in _MEDIA:
            rank = (q, 1, -i, _MEDIA[media])
        elif media in _WILDCARDS:
            rank = (q, 0, -i, _WILDCARDS[media])
        else:
            continue
        if best is None or rank[:3] > best[:3]:
            best = rank
    return None if best is None else best[3]


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket for uvicorn (``Server.run(sockets=[…])``), bound before the app
    is made so that port 0 names the port really served.

    ``socket.create_server`` makes a socket of protocol 0, and asyncio sets ``TCP_NODELAY`` on
    the connections it accepts only when the protocol is ``IPPROTO_TCP``: without it, every
    keep-alive response (headers and body written apart) waits for the client's delayed ACK,
    about 40 ms."""
    sock = socket.create_server((host, port))
    return socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())


def _ingest_format(content_type: str | None) -> RdfFormat | None:
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("", "*/*"):  # as the reference server: Turtle
        return "turtle"
    return _MEDIA.get(media)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


class _TooLarge(Exception):
    pass


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _rdf_response(
    request: Request, body: bytes, fmt: RdfFormat, immutable: bool, tag: str | None = None
) -> Response:
    tag = tag or etag(body)
    headers = {
        "ETag": tag,
        "Cache-Control": cache_control(immutable),
        "Vary": "Accept",
        "Access-Control-Allow-Origin": "*",
    }
    if if_none_match(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=CONTENT_TYPES[fmt], headers=headers)


def create_app(
    store: Store,
    base_url: str,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    formats: tuple[str, ...] = ("turtle",),
    config: tuple[bytes, str] | None = None,
    retention_interval: float | None = 3600.0,
    mqtt: MqttConfig | None = None,
) -> Starlette:
    """The live LDES server of ``store`` at ``base_url`` (the URL its pages name; the app
    serves that URL's path).

    ``config``: an event stream configuration (body, content type) created at startup unless
    a stream of its name exists. ``formats``: rendered and stored at each commit (see
    :class:`~ldesfrag.server.engine.Engine`). ``retention_interval``: seconds between retention
    passes (``ldesfrag.server.retention``; None: none). ``mqtt``: a broker and topics whose
    messages are ingested (``ldesfrag.server.mqtt``).
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise StoreError(f"base_url {base_url!r}: an http(s) URL without query or fragment")
    if not base_url.endswith("/"):
        base_url += "/"
    engine = Engine(store, base_url, formats=formats)

    # ---- admin -----------------------------------------------------------------------------
    def _stream_graph(s: LiveStream) -> Any:
        import rdflib

        g = rdflib.Graph()
        g.parse(data=s.config, format="turtle")
        es = next(iter(g.subjects(rdflib.RDF.type, rdflib.URIRef(LDES_ES))), None)
        for v in s.views.values():
            vg = rdflib.Graph().parse(data=v.config, format="turtle")
            for node in vg.subjects(rdflib.URIRef(TREE_VD), None):
                if es is not None:
                    g.add((es, rdflib.URIRef(TREE_VIEW), node))
            g += vg
        return g

    def _graph_response(request: Request, g: Any, status: int = 200) -> Response:
        g.bind("tree", "https://w3id.org/tree#")
        g.bind("ldes", "https://w3id.org/ldes#")
        fmt = negotiate(request.headers.get("accept"))
        if fmt is None:
            return _error(406, "acceptable: " + ", ".join(_MEDIA))
        return Response(
            g.serialize(format=_RDFLIB[fmt], encoding="utf-8"),
            status_code=status,
            media_type=CONTENT_TYPES[fmt],
        )

    async def admin_list(request: Request) -> Response:
        import rdflib

        g = rdflib.Graph()
        for s in list(engine.streams.values()):
            g += _stream_graph(s)
        return _graph_response(request, g)

    async def admin_create(request: Request) -> Response:
        try:
            body = await _body(request, max_body)
            cfg = await run_in_threadpool(
                parse_stream, body, request.headers.get("content-type"), base_url
            )
            s = await engine.write(engine.create_stream, cfg)
        except _TooLarge:
            return _error(413, f"the body is over {max_body} bytes")
        except ConfigError as e:
            return _error(415 if "unsupported configuration type" in str(e) else 400, str(e))
        except StoreError as e:
            return _error(409, str(e))
        return _graph_response(request, _stream_graph(s), 201)

    async def _found(request: Request) -> LiveStream | Response:
        name, view = request.path_params["collection"], request.path_params.get("view")
        s = engine.streams.get(name)
        if s is None or (view is not None and view not in s.views):
            # Another process may have made it (docs/architecture.md, "Several processes").
            await engine.write(engine.refresh)
            s = engine.streams.get(name)
        if s is None:
            return _error(404, f"no event stream {request.path_params['collection']!r}")
        return s

    async def _found_view(request: Request) -> tuple[LiveStream, LiveView] | Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        v = s.views.get(request.path_params["view"])
        if v is None:
            return _error(404, f"no view {request.path_params['view']!r} in {s.name!r}")
        return s, v

    async def admin_get(request: Request) -> Response:
        s = await _found(request)
        return s if isinstance(s, Response) else _graph_response(request, _stream_graph(s))

    async def admin_delete(request: Request) -> Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        with contextlib.suppress(KeyError):
            await engine.write(engine.delete_stream, s.name)
        return Response(status_code=200)

    async def admin_close(request: Request) -> Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        await engine.write(engine.close_stream, s.name)
        return Response(status_code=200)

    async def views_list(request: Request) -> Response:
        import rdflib

        s = await _found(request)
        if isinstance(s, Response):
            return s
        g = rdflib.Graph()
        for v in list(s.views.values()):
            g.parse(data=v.config, format="turtle")
        return _graph_response(request, g)

    async def views_create(request: Request) -> Response:
        import rdflib

        s = await _found(request)
        if isinstance(s, Response):
            return s
        try:
            body = await _body(request, max_body)
            cfg = await run_in_threadpool(
                parse_view, body, request.headers.get("content-type"), s.url + "/"
            )
            v = await engine.write(engine.add_view, s.name, cfg)
        except _TooLarge:
            return _error(413, f"the body is over {max_body} bytes")
        except ConfigError as e:
            return _error(415 if "unsupported configuration type" in str(e) else 400, str(e))
        except StoreError as e:
            return _error(409, str(e))
        except KeyError:
            return _error(404, f"no event stream {s.name!r}")
        return _graph_response(request, rdflib.Graph().parse(data=v.config, format="turtle"), 201)

    async def view_get(request: Request) -> Response:
        import rdflib

        sv = await _found_view(request)
        if isinstance(sv, Response):
            return sv
        _, v = sv
        return _graph_response(request, rdflib.Graph().parse(data=v.config, format="turtle"))

    async def view_delete(request: Request) -> Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        try:
            await engine.write(engine.delete_view, s.name, request.path_params["view"])
        except KeyError:
            return _error(404, f"no view {request.path_params['view']!r} in {s.name!r}")
        return Response(status_code=200)

    # ---- ingest and fetch ------------------------------------------------------------------
    async def ingest(request: Request) -> Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        if s.closed:
            return _error(409, f"event stream {s.name!r} is closed")
        fmt = _ingest_format(request.headers.get("content-type"))
        if fmt is None:
            return _error(
                415,
                f"unsupported content type {request.headers.get('content-type')!r}: use "
                + ", ".join(_MEDIA),
            )
        try:
            body = await _body(request, max_body)
        except _TooLarge:
            return _error(413, f"the body is over {max_body} bytes")
        try:
            if len(body) <= _INLINE_PARSE:
                parsed = engine.parse(s.name, body, fmt)
            else:
                parsed = await run_in_threadpool(engine.parse, s.name, body, fmt)
        except IngestError as e:
            return JSONResponse(e.report, status_code=e.status)
        status, report = await engine.ingest(parsed)
        retry = {"Retry-After": str(StoreBusy.retry_after)} if status == 503 else None
        return JSONResponse(report, status_code=status, headers=retry)

    async def event_stream(request: Request) -> Response:
        s = await _found(request)
        if isinstance(s, Response):
            return s
        fmt = negotiate(request.headers.get("accept"))
        if fmt is None:
            return _error(406, "acceptable: " + ", ".join(_MEDIA))
        body = await run_in_threadpool(_stream_document, s, fmt)
        return _rdf_response(request, body, fmt, False)

    async def node(request: Request) -> Response:
        sv = await _found_view(request)
        if isinstance(sv, Response):
            return sv
        s, v = sv
        fmt = negotiate(request.headers.get("accept"))
        if fmt is None:
            return _error(406, "acceptable: " + ", ".join(_MEDIA))
        query = request.scope.get("query_string", b"").decode("latin-1")
        try:
            bucket, page = parse_node_url(v.url, v.url + ("?" + query if query else ""), "query")
        except NodeUrlError:
            return _error(404, f"no such node: ?{query}")
        found = engine.fetch_held(v, bucket, page, fmt)
        if found is None:
            found = await run_in_threadpool(engine.fetch, s, v, bucket, page, fmt)
        if found is None:
            if await run_in_threadpool(engine.store.dropped, v.id, bucket, page or 0):
                return _error(410, f"dropped by the view's retention policy: ?{query}")
            return _error(404, f"no such node: ?{query}")
        body, tag, immutable = found
        return _rdf_response(request, body, fmt, immutable, tag)

    routes: list[BaseRoute] = [
        Route(ADMIN, admin_list, methods=["GET"]),
        Route(ADMIN, admin_create, methods=["POST"]),
        Route(ADMIN + "/{collection}", admin_get, methods=["GET"]),
        Route(ADMIN + "/{collection}", admin_delete, methods=["DELETE"]),
        Route(ADMIN + "/{collection}/close", admin_close, methods=["POST"]),
        Route(ADMIN + "/{collection}/views", views_list, methods=["GET"]),
        Route(ADMIN + "/{collection}/views", views_create, methods=["POST"]),
        Route(ADMIN + "/{collection}/views/{view}", view_get, methods=["GET"]),
        Route(ADMIN + "/{collection}/views/{view}", view_delete, methods=["DELETE"]),
        Route("/{collection}", event_stream, methods=["GET"]),
        Route("/{collection}", ingest, methods=["POST"]),
        Route("/{collection}/{view}", node, methods=["GET"]),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await engine.start()
        tasks: list[asyncio.Task[None]] = []
        subscriber = None
        try:
            if config is not None:
                cfg = parse_stream(config[0], config[1], base_url)
                if cfg.name not in engine.streams:
                    try:
                        await engine.write(engine.create_stream, cfg)
                    except StoreError:  # another process made it meanwhile
                        await engine.write(engine.refresh)
            if retention_interval:
                tasks.append(asyncio.create_task(retention_loop(engine, retention_interval)))
            if mqtt is not None:
                subscriber = MqttSubscriber(engine, mqtt)
                app.state.mqtt = subscriber
                await subscriber.start()
            yield
        finally:
            if subscriber is not None:
                await subscriber.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await engine.stop()

    async def busy(request: Request, e: Exception) -> Response:  # an admin change: StoreBusy
        return JSONResponse(
            {"error": str(e)}, status_code=503, headers={"Retry-After": str(StoreBusy.retry_after)}
        )

    prefix = parts.path.rstrip("/")
    app = Starlette(
        routes=[Mount(prefix, routes=routes)] if prefix else routes,
        lifespan=lifespan,
        exception_handlers={StoreBusy: busy},
    )
    app.state.engine = engine
    return app


LDES_ES = "https://w3id.org/ldes#EventStream"
TREE_VD = "https://w3id.org/tree#viewDescription"
TREE_VIEW = "https://w3id.org/tree#view"


def _stream_document(s: LiveStream, fmt: RdfFormat) -> bytes:
    """``GET /{collection}``: the event stream, one ``tree:view`` per view and each view's
    description (as the view's root node writes them), in ``fmt``."""
    import rdflib
    from rdflib import RDF, URIRef

    g = rdflib.Graph()
    g.bind("tree", "https://w3id.org/tree#")
    g.bind("ldes", "https://w3id.org/ldes#")
    es = URIRef(s.url)
    g.add((es, RDF.type, URIRef(LDES_ES)))
    for key, prop in (("timestamp_path", "timestampPath"), ("version_of_path", "versionOfPath")):
        if s.settings[key]:
            g.add((es, URIRef("https://w3id.org/ldes#" + prop), URIRef(s.settings[key])))
    for v in list(s.views.values()):
        root = render_page(
            v.url,
            stream=s.url,
            root=True,
            view=v.view,
            timestamp_path=s.settings["timestamp_path"],
            version_of_path=s.settings["version_of_path"],
            shape=s.settings["shape"],
            format="ntriples",
        )
        g.parse(data=root.body, format="nt")
        g += retention_triples(v.config, v.url + "#description")
    return bytes(g.serialize(format=_RDFLIB[fmt], encoding="utf-8"))
