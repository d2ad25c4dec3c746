"""A validator's three secret keys, how they are generated, and how they are stored.

A Settle validator holds three independent keys, one per job:

* the **account key** (secp256k1) signs consensus messages and transactions;
  its Ethereum address identifies the validator in the registry;
* the **BLS key** (BLS12-381, IETF proof-of-possession ciphersuite) signs commit
  seals, which aggregate into a block's commit certificate;
* the **node key** (ed25519 seed) is the libp2p identity; its peer id is what
  the network admits.

Keeping them separate means a leaked network identity cannot sign blocks.

Key files hold one key as hex plus a newline, readable by the owner only.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import multihash
from blspy import G1Element, PopSchemeMPL
from blspy import PrivateKey as BLSPrivateKey
from coincurve import PrivateKey as Secp256k1PrivateKey
from eth_hash.auto import keccak
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from consensus.validators import possession_proven, prove_possession
from genesis.errors import InvalidKeyError, KeyFileError
from genesis.model import GenesisValidator

KEY_LENGTH = 32
"""Every secret key Settle stores is 32 bytes."""

SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
BLS12_381_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001

_IDENTITY_MULTIHASH = 0x00
_SHA2_256_MULTIHASH = 0x12


@dataclass(frozen=True, slots=True)
class ValidatorKeys:
    """The secret keys of one validator. Public identities are derived on demand."""

    account_key: bytes = field(repr=False)
    """32-byte secp256k1 secret key (1 <= key < curve order)."""

    bls_secret_key: bytes = field(repr=False)
    """32-byte big-endian BLS12-381 secret key (0 < key < group order)."""

    node_key: bytes = field(repr=False)
    """32-byte ed25519 seed of the libp2p identity."""

    def __post_init__(self) -> None:
        for name, key in (("account", self.account_key), ("bls", self.bls_secret_key), ("node", self.node_key)):
            if not isinstance(key, bytes) or len(key) != KEY_LENGTH:
                raise InvalidKeyError(name, f"expected {KEY_LENGTH} bytes, got {len(key)}")
        if not 0 < int.from_bytes(self.account_key, "big") < SECP256K1_ORDER:
            raise InvalidKeyError("account", "not in the secp256k1 range 1..n-1")
        if not 0 < int.from_bytes(self.bls_secret_key, "big") < BLS12_381_ORDER:
            raise InvalidKeyError("bls", "not in the BLS12-381 range 1..r-1")

    @property
    def address(self) -> bytes:
        """20-byte Ethereum address of the account key."""
        return secp256k1_address(self.account_key)

    @property
    def bls_public_key(self) -> bytes:
        """48-byte compressed G1 public key of the BLS key."""
        return bytes(BLSPrivateKey.from_bytes(self.bls_secret_key).get_g1())

    @property
    def bls_proof_of_possession(self) -> bytes:
        """96-byte proof of possession of the BLS key, written into genesis beside the public key."""
        return prove_possession(self.bls_secret_key)

    @property
    def peer_id(self) -> str:
        """Base58 libp2p peer id of the node key."""
        return ID.from_pubkey(self.libp2p_key_pair().public_key).to_base58()

    def bls_private_key(self) -> BLSPrivateKey:
        """The BLS key as a blspy object, ready for ``PopSchemeMPL.sign``."""
        return BLSPrivateKey.from_bytes(self.bls_secret_key)

    def libp2p_key_pair(self) -> KeyPair:
        """The node key as a libp2p key pair, ready for ``new_host(key_pair=...)``."""
        return create_new_key_pair(self.node_key)

    def genesis_validator(self) -> GenesisValidator:
        """The public identities of these keys, as a genesis validator entry."""
        return GenesisValidator(address=self.address, bls_public_key=self.bls_public_key,
                                bls_proof_of_possession=self.bls_proof_of_possession, peer_id=self.peer_id)


def secp256k1_address(account_key: bytes) -> bytes:
    """Ethereum address of a secp256k1 secret key: last 20 bytes of keccak(pubkey)."""
    public_key = Secp256k1PrivateKey(account_key).public_key.format(compressed=False)
    return keccak(public_key[1:])[-20:]


def _derive(seed: bytes, label: bytes) -> bytes:
    return hmac.new(seed, label, hashlib.sha256).digest()


def generate_validator_keys(rng_seed: bytes | None = None) -> ValidatorKeys:
    """Generate a validator's three keys.

    With ``rng_seed`` the keys are a pure function of it (for reproducible test
    networks); without it they come from ``os.urandom``. Each key is derived
    under its own label, so the three keys are independent of one another.
    """
    seed = os.urandom(32) if rng_seed is None else rng_seed
    # A secp256k1 candidate is out of range with probability ~2**-128; retry anyway.
    counter = 0
    while True:
        account_key = _derive(seed, b"settle/account/" + counter.to_bytes(4, "big"))
        if 0 < int.from_bytes(account_key, "big") < SECP256K1_ORDER:
            break
        counter += 1
    # EIP-2333 KeyGen (what key_gen implements) maps any >= 32-byte IKM into range.
    bls_secret_key = bytes(PopSchemeMPL.key_gen(_derive(seed, b"settle/bls")))
    node_key = _derive(seed, b"settle/node")
    return ValidatorKeys(account_key=account_key, bls_secret_key=bls_secret_key, node_key=node_key)


def write_key_file(path: Path | str, key: bytes, *, overwrite: bool = False) -> None:
    """Write ``key`` as hex plus a newline, with mode 0o600.

    Refuses to replace an existing file unless ``overwrite`` is set, because a
    silently replaced validator key cannot be recovered.
    """
    path = Path(path)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise KeyFileError(path, path.stem, "already exists; refusing to overwrite") from None
    except OSError as exc:
        raise KeyFileError(path, path.stem, f"cannot create: {exc.strerror}") from None
    try:
        # The mode given to open() only applies to new files and is masked by the umask.
        os.fchmod(fd, 0o600)
        os.write(fd, (key.hex() + "\n").encode("ascii"))
    finally:
        os.close(fd)


def read_key_file(path: Path | str, name: str) -> bytes:
    """Read a 32-byte key written by :func:`write_key_file`.

    ``name`` ("account", "bls", "node") only labels error messages. Surrounding
    whitespace and an optional ``0x`` prefix are accepted.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise KeyFileError(path, name, "not found") from None
    except UnicodeDecodeError:
        raise KeyFileError(path, name, "not hex text (contains non-ASCII bytes)") from None
    except OSError as exc:
        raise KeyFileError(path, name, f"cannot read: {exc.strerror}") from None
    digits = text.strip()
    if digits.startswith(("0x", "0X")):
        digits = digits[2:]
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise KeyFileError(path, name, "not valid hex") from None
    if len(key) != KEY_LENGTH:
        raise KeyFileError(
            path, name, f"expected {KEY_LENGTH} bytes ({2 * KEY_LENGTH} hex digits), got {len(key)} bytes"
        )
    return key


@dataclass(frozen=True, slots=True)
class KeyFilePaths:
    """Where one validator's three key files live."""

    account_key: Path
    """The secp256k1 account key file."""

    bls_key: Path
    """The BLS secret key file."""

    node_key: Path
    """The libp2p node key file."""


def write_validator_keys(paths: KeyFilePaths, keys: ValidatorKeys, *, overwrite: bool = False) -> None:
    """Write all three keys of a validator, creating missing directories owner-only (0o700)."""
    for path, key in (
        (paths.account_key, keys.account_key),
        (paths.bls_key, keys.bls_secret_key),
        (paths.node_key, keys.node_key),
    ):
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_key_file(path, key, overwrite=overwrite)


def read_validator_keys(paths: KeyFilePaths) -> ValidatorKeys:
    """Read all three keys of a validator; an out-of-range key is a :class:`KeyFileError`."""
    account_key = read_key_file(paths.account_key, "account")
    bls_secret_key = read_key_file(paths.bls_key, "bls")
    node_key = read_key_file(paths.node_key, "node")
    try:
        return ValidatorKeys(account_key=account_key, bls_secret_key=bls_secret_key, node_key=node_key)
    except InvalidKeyError as exc:
        path = {"account": paths.account_key, "bls": paths.bls_key}.get(exc.name, paths.node_key)
        raise KeyFileError(path, exc.name, exc.problem) from None


def check_bls_public_key(public_key: bytes) -> None:
    """Raise ``ValueError`` unless ``public_key`` is a usable 48-byte G1 public key.

    The identity point decodes fine but verifies any aggregate, so it is refused,
    as the IETF KeyValidate step requires.
    """
    if len(public_key) != 48:
        raise ValueError(f"expected 48 bytes, got {len(public_key)}")
    try:
        point = G1Element.from_bytes(public_key)
    except (ValueError, RuntimeError) as exc:
        raise ValueError(f"not a valid BLS12-381 G1 point ({exc})") from None
    if point == G1Element():
        raise ValueError("is the G1 identity point, which is not a valid public key")


def check_bls_proof_of_possession(public_key: bytes, proof: bytes) -> None:
    """Raise ``ValueError`` unless ``proof`` proves possession of the (already checked) ``public_key``.

    Commit certificates are checked with FastAggregateVerify, which a rogue key (one chosen as
    another key minus the others, whose secret nobody knows) defeats unless every key's
    possession is proven when it is registered.
    """
    if len(proof) != 96:
        raise ValueError(f"expected 96 bytes, got {len(proof)}")
    if not possession_proven(public_key, proof):
        raise ValueError("does not verify for this BLS public key")


def check_peer_id(peer_id: str) -> None:
    """Raise ``ValueError`` unless ``peer_id`` is a base58 libp2p peer id.

    ``ID.from_base58`` accepts any base58 text, so we also require a multihash
    that libp2p produces: an identity hash of a decodable public key, or a
    SHA-256 hash.
    """
    try:
        raw = ID.from_base58(peer_id).to_bytes()
        decoded = multihash.decode(raw)
    except Exception as exc:  # base58 and multihash raise assorted types
        raise ValueError(f"not a base58 libp2p peer id ({exc})") from None
    if decoded.func == _SHA2_256_MULTIHASH and len(decoded.digest) == 32:
        return
    if decoded.func == _IDENTITY_MULTIHASH and ID(raw).extract_public_key() is not None:
        return
    raise ValueError("not a libp2p peer id (multihash is neither a public key nor a SHA-256 digest)")
