// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ERC165Checker} from "@openzeppelin/contracts/utils/introspection/ERC165Checker.sol";
import {ISettlementCheck} from "./ISettlementCheck.sol";

/// @title DvPSettlement
/// @notice Same-chain delivery versus payment (thesis §3.2.2, §3.4; LiquidShare "DvP at execution").
///         An instruction has two legs — `securityAmount` of a security from seller to buyer and
///         `cashAmount` of a cash token from buyer to seller. Both parties affirm it and approve this
///         contract for their leg; `settle` then moves both legs in one transaction, or neither.
///         Instructions expire and can be cancelled by either party until settled.
/// @dev For a cut-off (LGO white paper, Annex 1) `settleBatch` settles many affirmed instructions at
///      once with multilateral netting: per token, it computes each party's net position and moves
///      only the net amounts, directly from net payers to net receivers. A party therefore needs only
///      its net amount, not its gross. The contract never holds assets: each leg is a `transferFrom`
///      between the parties, so the tokens' own compliance rules (verified investors, allow-lists,
///      freezes, compliance modules) apply to the real counterparties. Netting alone would let a
///      party whose net position is zero escape them (it never appears in a transfer), so before
///      moving anything every leg of every instruction is put to its token's
///      `ISettlementCheck.settlementRestriction` (when the token announces it through ERC-165): the
///      batch settles only if each trade would pass the token's rules gross, balances aside.
contract DvPSettlement is ReentrancyGuard {
    /// @notice Lifecycle of an instruction.
    enum Status {
        None,
        Pending,
        Settled,
        Cancelled
    }

    /// @notice One DvP instruction.
    struct Instruction {
        address seller;
        address buyer;
        IERC20 security;
        IERC20 cash;
        uint256 securityAmount;
        uint256 cashAmount;
        uint64 expiry;
        bool sellerAffirmed;
        bool buyerAffirmed;
        Status status;
    }

    /// @notice A net movement of one token in a batch.
    struct NetEntry {
        address token;
        address party;
        int256 net;
    }

    Instruction[] private _instructions;
    uint256 public batchCount;

    /// @notice A new instruction; `id` is its index.
    event InstructionCreated(uint256 indexed id, address indexed seller, address indexed buyer, address security,
        uint256 securityAmount, address cash, uint256 cashAmount, uint256 expiry);
    /// @notice `party` affirmed instruction `id`.
    event InstructionAffirmed(uint256 indexed id, address indexed party);
    /// @notice Both legs of instruction `id` moved (`batchId` is 0 for a single settle).
    event InstructionSettled(uint256 indexed id, uint256 indexed batchId);
    /// @notice `party` cancelled instruction `id`.
    event InstructionCancelled(uint256 indexed id, address indexed party);
    /// @notice A netting batch settled `count` instructions with `transfers` net transfers.
    event BatchSettled(uint256 indexed batchId, uint256 count, uint256 transfers);

    /// @notice No instruction with this id.
    error InstructionNotFound(uint256 id);
    /// @notice Only the seller or the buyer of instruction `id` may do this.
    error NotParty(uint256 id, address caller);
    /// @notice Instruction `id` is not pending (already settled or cancelled).
    error NotPending(uint256 id, Status status);
    /// @notice Instruction `id` expired at `expiry`.
    error InstructionExpired(uint256 id, uint256 expiry);
    /// @notice Both parties must affirm instruction `id` before it settles.
    error NotAffirmed(uint256 id);
    /// @notice `party` already affirmed instruction `id`.
    error AlreadyAffirmed(uint256 id, address party);
    /// @notice A leg's transfer failed (leg 0 = security, 1 = cash); nothing moved.
    error LegFailed(uint256 id, uint8 leg, bytes reason);
    /// @notice A party of instruction `id` fails the rules of the token of `leg` (0 = security,
    ///         1 = cash) as if the trade settled gross; `reason` is that token's code. Nothing moved.
    error PartyRestricted(uint256 id, uint8 leg, uint8 reason);
    /// @notice A netted transfer of `token` from `from` to `to` failed; nothing moved.
    error NetTransferFailed(address token, address from, address to, uint256 amount, bytes reason);
    /// @notice The instruction is malformed (zero amounts, same party, zero address, past expiry).
    error InvalidInstruction();
    /// @notice A batch needs at least one instruction and no duplicates.
    error InvalidBatch();

    /// @notice Record an instruction; the caller must be the seller or the buyer and counts as affirming.
    function createInstruction(
        address seller,
        address buyer,
        IERC20 security,
        uint256 securityAmount,
        IERC20 cash,
        uint256 cashAmount,
        uint64 expiry
    ) external returns (uint256 id) {
        if (seller == address(0) || buyer == address(0) || seller == buyer || securityAmount == 0
            || cashAmount == 0 || expiry <= block.timestamp || address(security) == address(cash)) {
            revert InvalidInstruction();
        }
        id = _instructions.length;
        if (msg.sender != seller && msg.sender != buyer) revert NotParty(id, msg.sender);
        _instructions.push(Instruction(seller, buyer, security, cash, securityAmount, cashAmount, expiry,
            msg.sender == seller, msg.sender == buyer, Status.Pending));
        emit InstructionCreated(id, seller, buyer, address(security), securityAmount, address(cash), cashAmount, expiry);
        emit InstructionAffirmed(id, msg.sender);
    }

    /// @notice The counterparty affirms instruction `id`.
    function affirm(uint256 id) external {
        Instruction storage ins = _pending(id);
        if (msg.sender == ins.seller) {
            if (ins.sellerAffirmed) revert AlreadyAffirmed(id, msg.sender);
            ins.sellerAffirmed = true;
        } else if (msg.sender == ins.buyer) {
            if (ins.buyerAffirmed) revert AlreadyAffirmed(id, msg.sender);
            ins.buyerAffirmed = true;
        } else {
            revert NotParty(id, msg.sender);
        }
        emit InstructionAffirmed(id, msg.sender);
    }

    /// @notice Cancel instruction `id`; either party may, until it settles.
    function cancel(uint256 id) external {
        Instruction storage ins = _pending(id);
        if (msg.sender != ins.seller && msg.sender != ins.buyer) revert NotParty(id, msg.sender);
        ins.status = Status.Cancelled;
        emit InstructionCancelled(id, msg.sender);
    }

    /// @notice Move both legs of the affirmed, unexpired instruction `id`, or revert with nothing moved.
    function settle(uint256 id) external nonReentrant {
        Instruction storage ins = _settleable(id);
        ins.status = Status.Settled;
        try ins.security.transferFrom(ins.seller, ins.buyer, ins.securityAmount) returns (bool ok) {
            if (!ok) revert LegFailed(id, 0, "");
        } catch (bytes memory reason) {
            revert LegFailed(id, 0, reason);
        }
        try ins.cash.transferFrom(ins.buyer, ins.seller, ins.cashAmount) returns (bool ok) {
            if (!ok) revert LegFailed(id, 1, "");
        } catch (bytes memory reason) {
            revert LegFailed(id, 1, reason);
        }
        emit InstructionSettled(id, 0);
    }

    /// @notice Settle the affirmed, unexpired instructions `ids` together, moving only net amounts.
    /// @return batchId The batch number (from 1).
    function settleBatch(uint256[] calldata ids) external nonReentrant returns (uint256 batchId) {
        if (ids.length == 0) revert InvalidBatch();
        NetEntry[] memory entries = new NetEntry[](ids.length * 4);
        uint256 used = 0;
        for (uint256 i = 0; i < ids.length; ++i) {
            Instruction storage ins = _settleable(ids[i]); // a duplicate id fails here the second time
            ins.status = Status.Settled;
            _requireGrossAllowed(ids[i], 0, address(ins.security), ins.seller, ins.buyer, ins.securityAmount);
            _requireGrossAllowed(ids[i], 1, address(ins.cash), ins.buyer, ins.seller, ins.cashAmount);
            int256 sec = int256(ins.securityAmount);
            int256 cash = int256(ins.cashAmount);
            used = _addNet(entries, used, address(ins.security), ins.seller, -sec);
            used = _addNet(entries, used, address(ins.security), ins.buyer, sec);
            used = _addNet(entries, used, address(ins.cash), ins.buyer, -cash);
            used = _addNet(entries, used, address(ins.cash), ins.seller, cash);
        }
        uint256 transfers = _moveNet(entries, used);
        batchId = ++batchCount;
        for (uint256 i = 0; i < ids.length; ++i) emit InstructionSettled(ids[i], batchId);
        emit BatchSettled(batchId, ids.length, transfers);
    }

    /// @notice The instruction `id`.
    function getInstruction(uint256 id) external view returns (Instruction memory) {
        if (id >= _instructions.length) revert InstructionNotFound(id);
        return _instructions[id];
    }

    /// @notice Number of instructions ever created.
    function instructionCount() external view returns (uint256) {
        return _instructions.length;
    }

    function _pending(uint256 id) private view returns (Instruction storage ins) {
        if (id >= _instructions.length) revert InstructionNotFound(id);
        ins = _instructions[id];
        if (ins.status != Status.Pending) revert NotPending(id, ins.status);
    }

    function _settleable(uint256 id) private view returns (Instruction storage ins) {
        ins = _pending(id);
        if (block.timestamp > ins.expiry) revert InstructionExpired(id, ins.expiry);
        if (!ins.sellerAffirmed || !ins.buyerAffirmed) revert NotAffirmed(id);
    }

    function _requireGrossAllowed(uint256 id, uint8 leg, address token, address from, address to, uint256 amount)
        private
        view
    {
        if (!ERC165Checker.supportsInterface(token, type(ISettlementCheck).interfaceId)) return;
        uint8 reason = ISettlementCheck(token).settlementRestriction(from, to, amount);
        if (reason != 0) revert PartyRestricted(id, leg, reason);
    }

    function _addNet(NetEntry[] memory entries, uint256 used, address token, address party, int256 delta)
        private
        pure
        returns (uint256)
    {
        for (uint256 i = 0; i < used; ++i) {
            if (entries[i].token == token && entries[i].party == party) {
                entries[i].net += delta;
                return used;
            }
        }
        entries[used] = NetEntry(token, party, delta);
        return used + 1;
    }

    /// @dev For each token, pair net payers with net receivers in order of first appearance and move
    ///      min(debt, credit) between them until every net position is zero.
    function _moveNet(NetEntry[] memory entries, uint256 used) private returns (uint256 transfers) {
        for (uint256 p = 0; p < used; ++p) {
            if (entries[p].net >= 0) continue;
            for (uint256 r = 0; r < used && entries[p].net < 0; ++r) {
                if (entries[r].token != entries[p].token || entries[r].net <= 0) continue;
                uint256 debt = uint256(-entries[p].net);
                uint256 amount = debt < uint256(entries[r].net) ? debt : uint256(entries[r].net);
                entries[p].net += int256(amount);
                entries[r].net -= int256(amount);
                _netTransfer(entries[p].token, entries[p].party, entries[r].party, amount);
                ++transfers;
            }
        }
    }

    function _netTransfer(address token, address from, address to, uint256 amount) private {
        try IERC20(token).transferFrom(from, to, amount) returns (bool ok) {
            if (!ok) revert NetTransferFailed(token, from, to, amount, "");
        } catch (bytes memory reason) {
            revert NetTransferFailed(token, from, to, amount, reason);
        }
    }
}
