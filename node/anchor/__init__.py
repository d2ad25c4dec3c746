"""Bitcoin anchoring: checkpoints of Settle's block hashes in Bitcoin OP_RETURNs (docs/anchoring.md)."""
