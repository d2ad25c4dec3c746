"""JSON-RPC over HTTP and WebSocket on one port (hypercorn on trio, Starlette).

The dispatcher (jsonrpcserver) handles the JSON-RPC envelope: parse errors,
invalid requests, batches, unknown methods. Settle's handlers are synchronous
and run on the trio thread that owns the backend, so a request never sees a
half-committed block. An exception escaping a handler becomes -32603 with its
message, and the server keeps serving.
"""
from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from jsonrpcserver import Success, dispatch
from jsonrpcserver.exceptions import JsonRpcError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from node.rpc.api import Connection
from node.rpc.errors import INVALID_PARAMS, INVALID_REQUEST, LIMIT_EXCEEDED

log = structlog.get_logger("settle.rpc")

WS_QUEUE = 4096
"""Outbound messages buffered per WebSocket before the subscriber is dropped."""


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def _wrap(function: Callable[..., Any]) -> Callable[..., Any]:
    """Adapt a namespace method to jsonrpcserver, with geth's arity messages."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    takes_connection = bool(parameters) and parameters[0].name == "connection"
    if takes_connection:
        parameters = parameters[1:]
    required = sum(1 for x in parameters if x.default is inspect.Parameter.empty)
    maximum = len(parameters)

    def handler(connection: Connection, *args: Any) -> Any:
        if len(args) > maximum:
            raise JsonRpcError(INVALID_PARAMS, f"too many arguments, want at most {maximum}")
        if len(args) < required:
            raise JsonRpcError(INVALID_PARAMS, f"missing value for required argument {len(args)}")
        if takes_connection:
            return Success(function(connection, *args))
        return Success(function(*args))

    return handler


class Dispatcher:
    """Maps method names to handlers and answers raw request bodies."""

    def __init__(
        self,
        methods: dict[str, Callable[..., Any]],
        *,
        batch_limit: int = 100,
        refused: dict[str, str] | None = None,
    ) -> None:
        self.methods = {name: _wrap(fn) for name, fn in methods.items()}
        self.batch_limit = batch_limit
        self.refused = refused or {}
        """Methods answered with a fixed error (e.g. writes on an audit node)."""

    def handle(self, body: str | bytes, connection: Connection) -> str:
        """The JSON response text for a request body ('' for notifications only)."""
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return dispatch(text, methods=self.methods, context=connection)  # -32700
        if isinstance(parsed, list):
            if not parsed:
                return json.dumps(_error(INVALID_REQUEST, "empty batch"))
            if len(parsed) > self.batch_limit:
                return json.dumps(
                    _error(LIMIT_EXCEEDED, f"batch of {len(parsed)} requests exceeds the limit of {self.batch_limit}")
                )
        return dispatch(
            text,
            methods=self.methods,
            context=connection,
            deserializer=lambda _: parsed,
        )


def create_app(
    dispatcher: Dispatcher,
    *,
    cors_origins: list[str],
    max_request_bytes: int,
    on_disconnect: Callable[[Callable[[dict[str, Any]], bool]], None],
) -> Starlette:
    async def http_endpoint(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"service": "settle", "jsonrpc": "POST JSON-RPC 2.0 here, or open a WebSocket"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return JSONResponse(
                    _error(LIMIT_EXCEEDED, f"request body exceeds {max_request_bytes} bytes"), status_code=413
                )
        answer = dispatcher.handle(body, Connection())
        if not answer:
            return Response(status_code=200)
        return Response(answer, media_type="application/json")

    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        outbound_send, outbound_receive = trio.open_memory_channel[str](WS_QUEUE)

        def push(message: dict[str, Any]) -> bool:
            try:
                outbound_send.send_nowait(json.dumps(message))
                return True
            except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                return False

        async def pump() -> None:
            async for text in outbound_receive:
                await websocket.send_text(text)

        connection = Connection(push)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump)
                try:
                    while True:
                        message = await websocket.receive()
                        if message["type"] == "websocket.disconnect":
                            break
                        body = message.get("text") or message.get("bytes") or ""
                        if len(body) > max_request_bytes:
                            answer = json.dumps(_error(LIMIT_EXCEEDED, f"message exceeds {max_request_bytes} bytes"))
                        else:
                            answer = dispatcher.handle(body, connection)
                        if answer:
                            await outbound_send.send(answer)
                finally:
                    on_disconnect(push)
                    nursery.cancel_scope.cancel()
        except WebSocketDisconnect:
            pass

    middleware = []
    if cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=cors_origins,
                allow_methods=["POST", "GET", "OPTIONS"],
                allow_headers=["*"],
            )
        )
    return Starlette(
        routes=[Route("/", http_endpoint, methods=["GET", "POST"]), WebSocketRoute("/", ws_endpoint)],
        middleware=middleware,
    )


#: How long an idle HTTP keep-alive connection stays open (geth's IdleTimeout).
KEEP_ALIVE_SECONDS = 120.0


class RpcListenFailed(Exception):
    """The JSON-RPC server could not listen on its configured address (port in use, address not local)."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(f"cannot serve JSON-RPC on {address}: {problem}")


async def serve_rpc(app: Starlette, host: str, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; signals readiness with the bound addresses.

    Raises :class:`RpcListenFailed` when the address cannot be bound.
    """
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.websocket_ping_interval = 20
    config.graceful_timeout = 1.0
    # Keep idle HTTP connections for as long as geth does (IdleTimeout 120 s).
    # Hypercorn's 5 s default closes a pooled connection just as a client,
    # idle for about 5 s, sends on it: the client sees "Remote end closed
    # connection without response" (requests/web3 do not retry a POST).
    config.keep_alive_timeout = KEEP_ALIVE_SECONDS
    # Binding is the only socket work outside hypercorn's per-connection
    # handling; hypercorn raises its failure from a nursery, in a group.
    try:
        await serve(app, config, task_status=task_status)  # type: ignore[arg-type]  # hypercorn types it as its own TaskStatus
    except (OSError, BaseExceptionGroup) as exc:
        failed = _only_os_error(exc)
        if failed is None:
            raise
        raise RpcListenFailed(f"{host}:{port}", failed.strerror or str(failed)) from None


def _only_os_error(exc: BaseException) -> OSError | None:
    """``exc`` itself, or the one error inside nested exception groups, if that is an ``OSError``."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, OSError) else None
