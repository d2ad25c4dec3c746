// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @notice The part of Settle's permission registry this contract reads.
interface IAnchorValidatorSource {
    /// @notice The secp256k1 addresses of the current validators.
    function validators() external view returns (address[] memory);
}

/// @title AnchorRegistry
/// @notice Settle's record of its Bitcoin anchors (docs/anchoring.md): for each checkpoint, the Settle
///         block hash that was written into a Bitcoin OP_RETURN, the Bitcoin transaction (serialised
///         without witness data, so that its double SHA-256 is the txid), the Bitcoin block holding it
///         and the merkle branch from the txid to that block's merkle root. Anyone reading Settle sees
///         what was anchored and where, and can check it against any Bitcoin node's headers.
/// @dev A system contract: the genesis places its runtime code at `anchor.registryAddress` with the
///      first validators in `writers` (storage slot 0). Validators come from the permission registry
///      when a contract exists at `registry` (0x…5e77), otherwise from `writers`. One record per
///      checkpoint height: the first is kept and a second reverts, so validators racing to record the
///      same checkpoint leave exactly one record. Nothing here checks Bitcoin: `settle anchor verify`
///      does, against headers the verifier trusts.
contract AnchorRegistry {
    /// @notice One anchored checkpoint.
    struct Anchor {
        uint64 height;
        bytes32 blockHash;
        bytes32 btcTxid;
        bytes32 btcBlockHash;
        uint64 btcBlockHeight;
        uint32 txIndex;
        bytes32[] branch;
        bytes rawTx;
        address recorder;
    }

    /// @notice Validators allowed to record when the permission registry has no code (set in genesis).
    mapping(address => bool) public writers;
    /// @notice Records by checkpoint height.
    mapping(uint64 => Anchor) private anchors;
    /// @notice Checkpoint heights in the order they were recorded.
    uint64[] private heights;

    /// @notice Where the validator set is read from when it has code.
    address public constant registry = 0x0000000000000000000000000000000000005E77;

    /// @notice A checkpoint was recorded.
    event Anchored(
        uint64 indexed height, bytes32 blockHash, bytes32 btcTxid, bytes32 btcBlockHash, uint64 btcBlockHeight
    );

    error NotValidator(address sender);
    error AlreadyAnchored(uint64 height);
    error BadRecord(string reason);

    /// @notice Record the Bitcoin anchor of checkpoint `height`. Reverts `AlreadyAnchored` for a
    ///         checkpoint that already has one, and `NotValidator` for anyone but a validator.
    function record(
        uint64 height,
        bytes32 blockHash,
        bytes32 btcTxid,
        bytes32 btcBlockHash,
        uint64 btcBlockHeight,
        uint32 txIndex,
        bytes32[] calldata branch,
        bytes calldata rawTx
    ) external {
        if (!isWriter(msg.sender)) revert NotValidator(msg.sender);
        if (height == 0 || height >= block.number) revert BadRecord("height");
        if (blockHash != blockhash(height) && block.number - height <= 256) revert BadRecord("block hash");
        if (anchors[height].height != 0) revert AlreadyAnchored(height);
        if (branch.length > 32 || rawTx.length > 4000) revert BadRecord("size");
        Anchor storage a = anchors[height];
        a.height = height;
        a.blockHash = blockHash;
        a.btcTxid = btcTxid;
        a.btcBlockHash = btcBlockHash;
        a.btcBlockHeight = btcBlockHeight;
        a.txIndex = txIndex;
        a.branch = branch;
        a.rawTx = rawTx;
        a.recorder = msg.sender;
        heights.push(height);
        emit Anchored(height, blockHash, btcTxid, btcBlockHash, btcBlockHeight);
    }

    /// @notice Whether `account` may record anchors.
    function isWriter(address account) public view returns (bool) {
        if (registry.code.length == 0) return writers[account];
        address[] memory current = IAnchorValidatorSource(registry).validators();
        for (uint256 i = 0; i < current.length; i++) {
            if (current[i] == account) return true;
        }
        return false;
    }

    /// @notice Number of recorded checkpoints.
    function count() external view returns (uint256) {
        return heights.length;
    }

    /// @notice Checkpoint heights recorded, from position `start`, at most `limit` of them.
    function heightsFrom(uint256 start, uint256 limit) external view returns (uint64[] memory result) {
        uint256 end = start + limit;
        if (end > heights.length) end = heights.length;
        if (start >= end) return new uint64[](0);
        result = new uint64[](end - start);
        for (uint256 i = start; i < end; i++) {
            result[i - start] = heights[i];
        }
    }

    /// @notice The record of checkpoint `height`; `height` is 0 in the result when there is none.
    function get(uint64 height) external view returns (Anchor memory) {
        return anchors[height];
    }
}
