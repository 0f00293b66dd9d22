"""The hash-chained, checkpointed audit log: events, Merkle tree, verify, export."""
