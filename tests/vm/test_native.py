"""``vm.native``'s keccak-256 gives eth_hash's digests, with pysha3 and without it."""
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from vm import native


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_keccak_256_is_eth_hashs(data: bytes) -> None:
    assert native.keccak_256(data).digest() == keccak(data)
    assert native._EthHashKeccak(data).digest() == keccak(data)


def test_pysha3_is_used_when_it_gives_the_known_digests(monkeypatch) -> None:
    import sha3

    assert native.keccak_256 is sha3.keccak_256
    monkeypatch.setattr(sha3, "keccak_256", lambda data: sha3.sha3_256(data))  # a wrong function
    assert native._keccak_constructor() is native._EthHashKeccak
