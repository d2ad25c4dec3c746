"""JSON-RPC over HTTP and WebSocket on one port (hypercorn on trio, Starlette).

A plain request (a known method, params by position, an id) is dispatched
directly; jsonrpcserver handles the rest of the JSON-RPC envelope: invalid
requests, unknown methods, notifications, params by name, with the same
answers either way. An HTTP POST to ``/`` is answered from the ASGI messages
without Starlette, which serves the rest (GET, WebSocket, CORS). Settle's
handlers are synchronous and run on the trio thread that owns the backend, so
a request never sees a half-committed block. A handler written as
``async def`` (the expensive reads, which run on worker threads:
:mod:`node.rpc.workers`) is only started by the synchronous dispatch: its
result is a :class:`Pending` that :meth:`Dispatcher.handle_async` awaits, a
batch's concurrently, before the reply is written.

Before anything parses a request, :class:`Dispatcher` bounds it: nesting depth
(scanned on the raw text), integer size, batch length, a batch's cost budget
and reply size (``node/rpc/limits.py``). A handler's error is answered with
its code and logged in one line at debug level; an exception a handler did not
expect becomes -32603, logged in one line at error level with where it was
raised, and the server keeps serving.
"""
from __future__ import annotations

import inspect
import itertools
import json
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from jsonrpcserver import Success, dispatch_to_serializable
from jsonrpcserver.exceptions import JsonRpcError
from jsonrpcserver.sentinels import NODATA
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from node.rpc.api import Connection
from node.rpc.errors import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, LIMIT_EXCEEDED, PARSE_ERROR
from node.rpc.limits import RpcLimits, method_cost, nested_deeper_than

log = structlog.get_logger("settle.rpc")


def _error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def _raised_at(exc: BaseException) -> str:
    """``file:line in function`` of the frame that raised ``exc``: enough to find a bug from one log line."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename}:{last.lineno} in {last.name}"


class Pending:
    """The result of an ``async def`` handler, still to be awaited by :meth:`Dispatcher.handle_async`."""

    __slots__ = ("name", "start")

    def __init__(self, name: str, start: Callable[[], Awaitable[Any]]) -> None:
        self.name = name
        self.start = start


Call = Callable[[Connection, list[Any]], Any]
"""A method adapted for dispatch: ``call(connection, params)`` returns the result (or a :class:`Pending`)
or raises :class:`JsonRpcError`."""


def _wrap(name: str, function: Callable[..., Any]) -> Call:
    """Adapt a namespace method for dispatch, with geth's arity messages and one-line logging."""
    signature = inspect.signature(function)
    parameters = list(signature.parameters.values())
    takes_connection = bool(parameters) and parameters[0].name == "connection"
    if takes_connection:
        parameters = parameters[1:]
    required = sum(1 for x in parameters if x.default is inspect.Parameter.empty)
    maximum = len(parameters)
    is_async = inspect.iscoroutinefunction(function)

    def call(connection: Connection, args: list[Any]) -> Any:
        try:
            if len(args) > maximum:
                raise JsonRpcError(INVALID_PARAMS, f"too many arguments, want at most {maximum}")
            if len(args) < required:
                raise JsonRpcError(INVALID_PARAMS, f"missing value for required argument {len(args)}")
            if is_async:
                # No coroutine yet: one that is never awaited (a notification) would warn.
                if takes_connection:
                    return Pending(name, lambda: function(connection, *args))
                return Pending(name, lambda: function(*args))
            if takes_connection:
                return function(connection, *args)
            return function(*args)
        except JsonRpcError as exc:
            log.debug("rpc request refused", method=name, code=exc.code, message=exc.message)
            raise
        except Exception as exc:  # a bug: answer it, keep serving, and say where in one line
            problem = f"{type(exc).__name__}: {exc}"
            log.error("rpc handler failed", method=name, error=problem, at=_raised_at(exc))
            raise JsonRpcError(INTERNAL_ERROR, "Internal error", problem) from None

    return call


def _for_jsonrpcserver(name: str, call: Call) -> Callable[..., Any]:
    """``call`` as jsonrpcserver invokes a method: the connection (its context), then the params."""

    def handler(connection: Connection, *args: Any, **named: Any) -> Any:
        if named:
            error = JsonRpcError(INVALID_PARAMS, "parameters must be an array (by position), not an object")
            log.debug("rpc request refused", method=name, code=error.code, message=error.message)
            raise error
        return Success(call(connection, list(args)))

    return handler


_REQUEST_KEYS = frozenset({"jsonrpc", "method", "params", "id"})


def _answer_directly(item: Any, calls: dict[str, Call]) -> tuple[Call, list[Any]] | None:
    """The method and params of a plain request, which :meth:`Dispatcher._dispatch` answers itself.

    Plain: an object with ``"jsonrpc": "2.0"``, a known method, params absent or
    an array, an id that is a string, number or null (not a notification), and
    no other member. jsonrpcserver's schema accepts every such request and
    answers it with the same object; anything else (notifications, params by
    name, unknown methods, invalid requests) still goes through jsonrpcserver,
    so its answers and error messages are unchanged. Skipping its schema
    validation and argument binding saves about 70 µs a request.
    """
    if type(item) is not dict or item.get("jsonrpc") != "2.0" or "id" not in item:
        return None
    method = item.get("method")
    call = calls.get(method) if type(method) is str else None
    params = item.get("params", [])
    request_id = item["id"]
    if (call is None or type(params) is not list or item.keys() - _REQUEST_KEYS
            or not (request_id is None or type(request_id) in (str, int, float))):
        return None
    return call, params


async def _settle(answer: dict[str, Any]) -> None:
    """Await ``answer``'s ``Pending`` result and put its value, or its error, in its place."""
    pending: Pending = answer["result"]
    try:
        answer["result"] = await pending.start()
        return
    except JsonRpcError as exc:
        log.debug("rpc request refused", method=pending.name, code=exc.code, message=exc.message)
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        if exc.data is not NODATA:
            error["data"] = exc.data
    except Exception as exc:  # a bug: answer it, keep serving, and say where in one line
        problem = f"{type(exc).__name__}: {exc}"
        log.error("rpc handler failed", method=pending.name, error=problem, at=_raised_at(exc))
        error = {"code": INTERNAL_ERROR, "message": "Internal error", "data": problem}
    del answer["result"]
    answer["error"] = error


def _joined(answers: Any, texts: list[str]) -> str:
    """One answer's text, or a batch's as a JSON array ('' for none)."""
    if isinstance(answers, list):
        return "[" + ",".join(texts) + "]" if texts else ""
    return texts[0] if texts else ""


def _is_pending(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("result"), Pending)


def _request_id(item: Any) -> Any:
    """The id to answer ``item`` with; absent for a notification (which gets no answer)."""
    return item.get("id") if isinstance(item, dict) else None


def _is_notification(item: Any) -> bool:
    return isinstance(item, dict) and "id" not in item


class Dispatcher:
    """Maps method names to handlers and answers raw request bodies, within :class:`RpcLimits`."""

    def __init__(
        self,
        methods: dict[str, Callable[..., Any]],
        *,
        limits: RpcLimits | None = None,
    ) -> None:
        self.calls = {name: _wrap(name, fn) for name, fn in methods.items()}
        self.methods = {name: _for_jsonrpcserver(name, call) for name, call in self.calls.items()}
        self.limits = limits or RpcLimits()

    def handle(self, body: str | bytes, connection: Connection) -> str:
        """The JSON response text for a request body ('' for notifications only).

        For methods without ``async def`` handlers; the server uses :meth:`handle_async`.
        """
        return self._finish(self._answers(body, connection))

    async def handle_async(self, body: str | bytes, connection: Connection) -> str:
        """:meth:`handle`, awaiting the results of ``async def`` handlers (a batch's concurrently)."""
        answers = self._answers(body, connection)
        pending = [answer for answer in (answers if isinstance(answers, list) else [answers]) if _is_pending(answer)]
        if not pending:
            return self._finish(answers)
        async with trio.open_nursery() as nursery:
            for answer in pending:
                nursery.start_soon(_settle, answer)
        # A batch of log queries can make megabytes of JSON: let consensus in between two answers.
        texts = []
        for text in self._texts(answers):
            texts.append(text)
            await trio.lowlevel.checkpoint()
        return _joined(answers, texts)

    def _answers(self, body: str | bytes, connection: Connection) -> Any:
        """The reply as JSON-ready data: one answer (None for a notification) or a batch's list.

        Results of ``async def`` handlers are still :class:`Pending` in it.
        """
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        limits = self.limits
        if nested_deeper_than(text, limits.max_json_depth):
            return self._refuse(PARSE_ERROR, f"JSON nested deeper than {limits.max_json_depth} levels "
                                             "(limit [rpc] max_json_depth)")
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            return self._refuse(PARSE_ERROR, f"parse error: {exc}")
        except RecursionError:  # unreachable below max_json_depth; kept so that no body is ever a 500
            return self._refuse(PARSE_ERROR, "parse error: JSON nested too deeply")
        except ValueError as exc:  # an integer of more than sys.get_int_max_str_digits() digits
            return self._refuse(PARSE_ERROR, f"parse error: {exc}")
        if not isinstance(parsed, list):
            return self._dispatch(parsed, connection)
        if not parsed:
            return self._refuse(INVALID_REQUEST, "empty batch")
        if len(parsed) > limits.batch_limit:
            return self._refuse(LIMIT_EXCEEDED, f"batch of {len(parsed)} requests exceeds the limit of "
                                                f"{limits.batch_limit} (limit [rpc] batch_limit)")
        return self._dispatch_batch(parsed, connection)

    def _refuse(self, code: int, message: str) -> dict[str, Any]:
        log.debug("rpc request refused", code=code, message=message)
        return _error(code, message)

    def _dispatch(self, item: Any, connection: Connection) -> Any:
        """One request's answer (None for a notification), as jsonrpcserver would give it."""
        direct = _answer_directly(item, self.calls)
        if direct is None:
            return dispatch_to_serializable("", methods=self.methods, context=connection,
                                            deserializer=lambda _: item)
        call, params = direct
        try:
            return {"jsonrpc": "2.0", "result": call(connection, params), "id": item["id"]}
        except JsonRpcError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data is not NODATA:
                error["data"] = exc.data
            return {"jsonrpc": "2.0", "error": error, "id": item["id"]}

    def _finish(self, answers: Any) -> str:
        """The reply text; a batch's answers past ``batch_response_max_bytes`` become -32005."""
        return _joined(answers, list(self._texts(answers)))

    def _texts(self, answers: Any) -> Iterator[str]:
        """Each answer's JSON text, in order (see :meth:`_finish`)."""
        if answers is None:
            return
        if not isinstance(answers, list):
            yield json.dumps(answers)
            return
        limits = self.limits
        size = 0
        for answer in answers:
            if size > limits.batch_response_max_bytes and "result" in answer:
                refusal = (f"batch reply exceeds {limits.batch_response_max_bytes} bytes "
                           "(limit [rpc] batch_response_max_bytes)")
                log.debug("rpc request refused", code=LIMIT_EXCEEDED, message=refusal)
                answer = _error(LIMIT_EXCEEDED, refusal, answer.get("id"))
            text = json.dumps(answer)
            size += len(text)
            yield text

    def _dispatch_batch(self, items: list[Any], connection: Connection) -> list[Any] | None:
        """Answer a batch in order until its cost budget or reply size is spent; -32005 for the rest.

        geth truncates an over-size batch reply the same way (``--rpc.batch-response-max-size``).
        The size of answers still pending is counted once they are in (:meth:`_finish`).
        """
        limits = self.limits
        answers: list[Any] = []
        spent = 0
        size = 0
        for item in items:
            cost = method_cost(item.get("method") if isinstance(item, dict) else None)
            if spent + cost > limits.batch_cost_budget:
                refusal = (f"batch cost budget of {limits.batch_cost_budget} units spent "
                           "(limit [rpc] batch_cost_budget)")
            elif size > limits.batch_response_max_bytes:
                refusal = (f"batch reply exceeds {limits.batch_response_max_bytes} bytes "
                           "(limit [rpc] batch_response_max_bytes)")
            else:
                spent += cost
                answer = self._dispatch(item, connection)
                if answer:
                    answers.append(answer)
                    if not _is_pending(answer):
                        size += len(json.dumps(answer))
                continue
            if not _is_notification(item):
                log.debug("rpc request refused", code=LIMIT_EXCEEDED, message=refusal)
                answers.append(_error(LIMIT_EXCEEDED, refusal, _request_id(item)))
        return answers or None


_connection_numbers = itertools.count()


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header; empty when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def create_app(dispatcher: Dispatcher, *, cors_origins: list[str], max_request_bytes: int,
               on_disconnect: Callable[[Connection], None]) -> ASGIApp:
    """The ASGI app: JSON-RPC over HTTP POST and WebSocket on ``/``.

    A POST to ``/`` (without an ``Origin`` header when CORS is configured) is
    answered by :func:`post_jsonrpc` directly from the ASGI messages; Starlette's
    routing, middleware and request/response objects cost about as much CPU as
    dispatching an ``eth_sendRawTransaction``. Everything else (GET, WebSocket,
    CORS, other paths) goes to the Starlette app, with the same answers.
    """
    ws_send_queue = dispatcher.limits.ws_send_queue

    async def answer_post(body: bytes, client_host: str | None, authorization: str | None) -> str:
        # Over HTTP a client is its address: the filters it installs are counted together.
        client = f"http {client_host}" if client_host is not None else "http"
        return await dispatcher.handle_async(body, Connection(client=client, bearer=bearer_token(authorization)))

    def too_large() -> dict[str, Any]:
        return _error(LIMIT_EXCEEDED, f"request body exceeds {max_request_bytes} bytes")

    async def post_jsonrpc(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > max_request_bytes:
                await _send_response(send, 413, _json_bytes(too_large()))
                return
            if not message.get("more_body", False):
                break
        client = scope.get("client")
        answer = await answer_post(body, client[0] if client else None, _header(scope, b"authorization"))
        await _send_response(send, 200, answer.encode())

    async def http_endpoint(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"service": "settle", "jsonrpc": "POST JSON-RPC 2.0 here, or open a WebSocket"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return JSONResponse(too_large(), status_code=413)
        answer = await answer_post(body, request.client.host if request.client is not None else None,
                                   request.headers.get("authorization"))
        if not answer:
            return Response(status_code=200)
        return Response(answer, media_type="application/json")

    async def ws_endpoint(websocket: WebSocket) -> None:
        await websocket.accept()
        outbound_send, outbound_receive = trio.open_memory_channel[str](ws_send_queue)

        def push(message: str) -> bool:
            try:
                outbound_send.send_nowait(message)
                return True
            except (trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError):
                return False

        async def pump() -> None:
            async for text in outbound_receive:
                await websocket.send_text(text)

        connection = Connection(push, client=f"ws {next(_connection_numbers)}",
                                bearer=bearer_token(websocket.headers.get("authorization")))
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
                            answer = await dispatcher.handle_async(body, connection)
                        if answer:
                            await outbound_send.send(answer)
                finally:
                    on_disconnect(connection)
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
    starlette = Starlette(
        routes=[Route("/", http_endpoint, methods=["GET", "POST"]), WebSocketRoute("/", ws_endpoint)],
        middleware=middleware,
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/"
                and not (cors_origins and _header(scope, b"origin") is not None)):
            await post_jsonrpc(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    return app


def _header(scope: Scope, name: bytes) -> str | None:
    """The value of header ``name`` (lower case) of an ASGI HTTP scope, or None."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _json_bytes(content: Any) -> bytes:
    """JSON as Starlette's ``JSONResponse`` writes it."""
    return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


async def _send_response(send: Send, status: int, body: bytes) -> None:
    """A complete response with the headers Starlette's ``Response`` sends (no content type when empty)."""
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


#: How long an idle HTTP keep-alive connection stays open (geth's IdleTimeout).
KEEP_ALIVE_SECONDS = 120.0


class RpcListenFailed(Exception):
    """The JSON-RPC server could not listen on its configured address (port in use, address not local)."""

    def __init__(self, address: str, problem: str) -> None:
        self.address = address
        self.problem = problem
        super().__init__(f"cannot serve JSON-RPC on {address}: {problem}")


async def serve_rpc(app: ASGIApp, host: str, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
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
