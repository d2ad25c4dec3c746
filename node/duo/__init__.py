"""The DUO custodian's off-chain side (DUO Technical Whitepaper v0.3.0, §2.1, §2.3).

- ``deploy``: deploy and wire DUO token, Token A/B and Beethoven; names of Beethoven's indices.
- ``trades``: trade records, pluggable trade sources (recorded CSV/JSONL files) and the SQLite store.
- ``aggregation``: the hourly price fix of §2.3.2 as pure functions.
- ``feed``: the price-feed daemon (one per pf role) that commits the fix with its key.
- ``trigger``: the reset trigger that answers StartPreReset/StartReset events (§2.1).

The Solidity sources are in contracts/src/duo; the design notes in docs/duo.md.
"""
