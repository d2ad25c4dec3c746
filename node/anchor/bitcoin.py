"""A small Bitcoin Core JSON-RPC client: the operator's own bitcoind (litecoind in tests).

Synchronous (urllib): the anchoring service calls it from a worker thread, the
CLI directly. Credentials come from the config (user and password, or the node's
cookie file) and are sent only in the Authorization header; they never appear in
``repr``, in error messages or in logs, which name the URL without its userinfo.

Every failure is a :class:`BitcoinError` whose ``kind`` names what the operator
must fix: ``unreachable``, ``auth``, ``wallet``, ``funds`` or ``rpc``. The
service counts errors by that kind (``settle_anchor_bitcoin_rpc_errors_total``).
"""
from __future__ import annotations

import base64
import http.client
import itertools
import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_RESPONSE_BYTES = 32 * 1024 * 1024
"""Largest RPC answer read (a verbose block of a full Bitcoin block is a few MB)."""


class BitcoinError(Exception):
    """Root of every Bitcoin RPC failure.

    ``kind`` is one of ``unreachable``, ``auth``, ``wallet``, ``funds``, ``rpc``.
    """

    kind = "rpc"

    def __init__(self, message: str, *, method: str = "", code: int | None = None) -> None:
        self.method = method
        self.code = code
        super().__init__(message)


class BitcoinUnreachable(BitcoinError):
    """No answer at the URL: connection refused, timeout, or not an HTTP JSON-RPC server."""

    kind = "unreachable"


class BitcoinAuthError(BitcoinError):
    """The node refused the credentials (HTTP 401/403)."""

    kind = "auth"


class BitcoinWalletError(BitcoinError):
    """The configured wallet is not loaded or does not exist (RPC codes -18, -19)."""

    kind = "wallet"


class BitcoinFundsError(BitcoinError):
    """The wallet cannot pay for the anchor transaction (RPC code -4/-6, "Insufficient funds")."""

    kind = "funds"


class BitcoinCallError(BitcoinError):
    """Any other JSON-RPC error answer; ``code`` is Bitcoin Core's RPC error code."""


_WALLET_CODES = (-18, -19)
_FUNDS_CODES = (-4, -6)


@dataclass(frozen=True, slots=True)
class BitcoinCredentials:
    """User and password for HTTP basic auth; ``repr`` hides the password."""

    user: str
    password: str = field(repr=False)


def read_cookie(path: Path) -> BitcoinCredentials:
    """Credentials from bitcoind's ``.cookie`` file (``__cookie__:<random>``); re-read on each node restart."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise BitcoinAuthError(f"cannot read bitcoin RPC cookie file {path}: {exc.strerror or exc}") from None
    user, sep, password = text.partition(":")
    if not sep:
        raise BitcoinAuthError(f"bitcoin RPC cookie file {path} is not of the form user:password")
    return BitcoinCredentials(user, password)


def split_url(url: str) -> tuple[str, BitcoinCredentials | None]:
    """``url`` without userinfo, and the credentials it carried (``http://user:pass@host:port/``)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BitcoinError(f"bitcoin RPC URL must be http(s)://host:port/, got {redact_url(url)!r}")
    credentials = None
    if parts.username is not None:
        credentials = BitcoinCredentials(urllib.parse.unquote(parts.username),
                                         urllib.parse.unquote(parts.password or ""))
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path or "/", "", "")), credentials


def redact_url(url: str) -> str:
    """``url`` with any user and password removed, for logs and messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparseable URL>"


class BitcoinRPC:
    """JSON-RPC calls to one node, wallet calls to one wallet. Thread-safe: one HTTP request per call.

    ``credentials`` or ``cookie_file`` (re-read on an auth failure, since bitcoind
    writes a new cookie at each start); with neither, the URL's userinfo.
    """

    def __init__(self, url: str, *, credentials: BitcoinCredentials | None = None, cookie_file: Path | None = None,
                 wallet: str = "", timeout: float = 30.0) -> None:
        self.url, url_credentials = split_url(url)
        self._credentials = credentials or url_credentials
        self._cookie_file = cookie_file
        self.wallet = wallet
        self.timeout = timeout
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"BitcoinRPC({self.url!r}, wallet={self.wallet!r})"

    def _auth_header(self) -> str | None:
        credentials = self._credentials
        if self._cookie_file is not None:
            credentials = read_cookie(self._cookie_file)
        if credentials is None:
            return None
        token = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
        return f"Basic {token}"

    def call(self, method: str, *params: Any, wallet: bool = False) -> Any:
        """Call ``method``; ``wallet`` sends it to ``/wallet/<name>`` so it acts on the configured wallet."""
        url = self.url.rstrip("/") + "/"
        if wallet and self.wallet:
            url += "wallet/" + urllib.parse.quote(self.wallet, safe="")
        body = json.dumps({"jsonrpc": "1.0", "id": next(self._ids), "method": method, "params": list(params)})
        request = urllib.request.Request(url, data=body.encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        auth = self._auth_header()
        if auth is not None:
            request.add_header("Authorization", auth)
        where = f"bitcoin RPC at {self.url}"
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            if exc.code in (401, 403):
                raise BitcoinAuthError(f"{where} refused the credentials (HTTP {exc.code}): check "
                                       "anchor.rpc_user/rpc_password or anchor.rpc_cookie_file",
                                       method=method) from None
            # Bitcoin Core answers JSON-RPC errors with HTTP 404/500 and a JSON body.
            raw = exc.read(MAX_RESPONSE_BYTES + 1)
            if not raw:
                raise BitcoinCallError(f"{where}: HTTP {exc.code} on {method}", method=method) from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BitcoinUnreachable(f"{where} unreachable: {reason}", method=method) from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise BitcoinCallError(f"{where}: answer to {method} above {MAX_RESPONSE_BYTES} bytes", method=method)
        try:
            answer = json.loads(raw)
        except ValueError:
            raise BitcoinUnreachable(f"{where} did not answer JSON-RPC to {method}", method=method) from None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message") if isinstance(error, dict) else str(error)
            text = f"{where}: {method} failed: {message} (code {code})"
            if code in _WALLET_CODES:
                raise BitcoinWalletError(text + f"; is wallet {self.wallet!r} loaded?", method=method, code=code)
            if code in _FUNDS_CODES and "nsufficient funds" in str(message):
                raise BitcoinFundsError(f"{where}: wallet {self.wallet!r} cannot pay for an anchor: {message}",
                                        method=method, code=code)
            raise BitcoinCallError(text, method=method, code=code)
        if not isinstance(answer, dict) or "result" not in answer:
            raise BitcoinUnreachable(f"{where} did not answer JSON-RPC to {method}", method=method)
        return answer["result"]
