// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title PermissionRegistry
/// @notice Settle's permission registry (docs/permissioning.md): who may transact (members), who may
///         create contracts (deployers), which read-only nodes may connect (auditors), who may put
///         changes to a vote (admins), and the validator set with each validator's BLS key, its proof
///         of possession and its libp2p peer id. Settle's VM reads `roles` and the open flags straight
///         from storage to enforce membership and deployment as consensus rules.
/// @dev A system contract: genesis places its runtime code at `permissions.registryAddress` (default
///      0x…5e77) with its storage filled from the genesis file (genesis/system.py writes the slots, so
///      the storage layout below is fixed: do not reorder state variables). Every change is a proposal
///      voted by the current validators; it passes, and takes effect in the same transaction, when more
///      than half of them voted for it (Besu QBFT's rule). The validator set of block h+1 is the one in
///      the state after block h.
contract PermissionRegistry {
    uint256 public constant MEMBER = 1;
    uint256 public constant DEPLOYER = 2;
    uint256 public constant AUDITOR = 4;
    uint256 public constant ADMIN = 8;
    uint256 public constant VALIDATOR = 16;
    /// @notice The roles a proposal may grant or revoke (VALIDATOR only through validator proposals).
    uint256 private constant GRANTABLE = MEMBER | DEPLOYER | AUDITOR | ADMIN;

    uint8 public constant ADD_VALIDATOR = 1;
    uint8 public constant REMOVE_VALIDATOR = 2;
    uint8 public constant GRANT_ROLES = 3;
    uint8 public constant REVOKE_ROLES = 4;
    uint8 public constant SET_OPEN = 5;
    uint8 public constant SET_AUDITOR = 6;

    /// @notice Settle's proof-of-possession precompile: input BLS key (48) ++ proof (96), output a word 1 or 0.
    address public constant POP_VERIFIER = 0x0000000000000000000000000000000000005E78;

    struct ValidatorInfo {
        bytes blsPublicKey;
        bytes blsProofOfPossession;
        string peerId;
    }

    struct Proposal {
        uint8 kind;
        bool executed;
        uint32 votes;
        address subject;
        address proposer;
        uint256 roles;
        bytes blsPublicKey;
        bytes blsProofOfPossession;
        string peerId;
    }

    // slot 0: role bits of each account (read by the VM)
    mapping(address => uint256) public roles;
    // slot 1: offset 0 every key is a member; offset 1 every member may deploy (read by the VM)
    bool public openMembership;
    bool public openDeployment;
    // slot 2: validators in proposer order
    address[] private _validators;
    // slot 3
    mapping(address => ValidatorInfo) private _validatorInfo;
    // slot 4: every account that holds or held a role, for listing
    address[] private _accounts;
    // slot 5: index + 1 of an account in `_accounts`
    mapping(address => uint256) private _accountIndex;
    // slot 6
    uint256 public proposalCount;
    // slot 7
    mapping(uint256 => Proposal) private _proposals;
    // slot 8
    mapping(uint256 => mapping(address => bool)) public voted;
    // slot 9: the libp2p peer id of each auditor's read-only node (the p2p allow-list reads it)
    mapping(address => string) public auditorPeerId;

    event Proposed(uint256 indexed id, uint8 kind, address indexed subject, uint256 roles, address indexed proposer);
    event Voted(uint256 indexed id, address indexed validator, uint32 votes, uint256 needed);
    event Executed(uint256 indexed id);
    event ValidatorAdded(address indexed validator, bytes blsPublicKey, string peerId);
    event ValidatorRemoved(address indexed validator);
    event RolesChanged(address indexed account, uint256 roles);
    event OpenChanged(bool openMembership, bool openDeployment);
    event AuditorChanged(address indexed auditor, string peerId);

    error NotValidator(address sender);
    error NotProposer(address sender);
    error AlreadyVoted(uint256 id, address validator);
    error UnknownProposal(uint256 id);
    error AlreadyExecuted(uint256 id);
    error InvalidProposal(string reason);
    error InvalidProofOfPossession(address validator);

    modifier onlyValidator() {
        if (roles[msg.sender] & VALIDATOR == 0) revert NotValidator(msg.sender);
        _;
    }

    // ---- queries (contracts may use the registry as their identity source) ----

    /// @notice Whether `account` may send transactions.
    function isMember(address account) external view returns (bool) {
        return openMembership || roles[account] & MEMBER != 0;
    }

    /// @notice Whether `account` may create contracts (directly, or as the origin of a factory's CREATE).
    function isDeployer(address account) external view returns (bool) {
        bool member = openMembership || roles[account] & MEMBER != 0;
        return member && (openDeployment || roles[account] & DEPLOYER != 0);
    }

    function isAuditor(address account) external view returns (bool) {
        return roles[account] & AUDITOR != 0;
    }

    function isAdmin(address account) external view returns (bool) {
        return roles[account] & ADMIN != 0;
    }

    function isValidator(address account) external view returns (bool) {
        return roles[account] & VALIDATOR != 0;
    }

    /// @notice The current validators' addresses, in proposer order (the anchor registry reads this).
    function validators() external view returns (address[] memory) {
        return _validators;
    }

    /// @notice A validator's BLS key, its proof of possession and its libp2p peer id.
    function validatorInfo(address validator)
        external
        view
        returns (bytes memory blsPublicKey, bytes memory blsProofOfPossession, string memory peerId)
    {
        ValidatorInfo storage info = _validatorInfo[validator];
        return (info.blsPublicKey, info.blsProofOfPossession, info.peerId);
    }

    /// @notice Every account that holds or held a role, with its current role bits.
    function accounts() external view returns (address[] memory addresses, uint256[] memory accountRoles) {
        addresses = _accounts;
        accountRoles = new uint256[](addresses.length);
        for (uint256 i = 0; i < addresses.length; i++) {
            accountRoles[i] = roles[addresses[i]];
        }
    }

    /// @notice Votes a proposal needs to pass with the current validator set: more than half.
    function votesNeeded() public view returns (uint256) {
        return _validators.length / 2 + 1;
    }

    function proposal(uint256 id)
        external
        view
        returns (uint8 kind, bool executed, uint32 votes, address subject, address proposer, uint256 roleBits)
    {
        Proposal storage p = _proposals[id];
        if (p.kind == 0) revert UnknownProposal(id);
        return (p.kind, p.executed, p.votes, p.subject, p.proposer, p.roles);
    }

    // ---- proposals ----

    /// @notice Propose a new validator. Its BLS proof of possession must verify, or this reverts.
    function proposeAddValidator(
        address validator,
        bytes calldata blsPublicKey,
        bytes calldata blsProofOfPossession,
        string calldata peerId
    ) external returns (uint256 id) {
        if (roles[validator] & VALIDATOR != 0) revert InvalidProposal("already a validator");
        if (validator == address(0)) revert InvalidProposal("zero address");
        if (bytes(peerId).length == 0 || bytes(peerId).length > 128) revert InvalidProposal("peer id");
        if (!_possessionProven(blsPublicKey, blsProofOfPossession)) revert InvalidProofOfPossession(validator);
        for (uint256 i = 0; i < _validators.length; i++) {
            if (keccak256(_validatorInfo[_validators[i]].blsPublicKey) == keccak256(blsPublicKey)) {
                revert InvalidProposal("duplicate BLS public key");
            }
        }
        id = _newProposal(ADD_VALIDATOR, validator, 0);
        Proposal storage p = _proposals[id];
        p.blsPublicKey = blsPublicKey;
        p.blsProofOfPossession = blsProofOfPossession;
        p.peerId = peerId;
        _voteIfValidator(id);
    }

    function proposeRemoveValidator(address validator) external returns (uint256 id) {
        if (roles[validator] & VALIDATOR == 0) revert InvalidProposal("not a validator");
        id = _newProposal(REMOVE_VALIDATOR, validator, 0);
        _voteIfValidator(id);
    }

    function proposeGrant(address account, uint256 roleBits) external returns (uint256 id) {
        if (roleBits == 0 || roleBits & ~GRANTABLE != 0) revert InvalidProposal("roles");
        id = _newProposal(GRANT_ROLES, account, roleBits);
        _voteIfValidator(id);
    }

    function proposeRevoke(address account, uint256 roleBits) external returns (uint256 id) {
        if (roleBits == 0 || roleBits & ~GRANTABLE != 0) revert InvalidProposal("roles");
        id = _newProposal(REVOKE_ROLES, account, roleBits);
        _voteIfValidator(id);
    }

    /// @notice Propose opening or closing membership (bit 0) and deployment (bit 1).
    function proposeSetOpen(bool membership, bool deployment) external returns (uint256 id) {
        id = _newProposal(SET_OPEN, address(0), (membership ? 1 : 0) | (deployment ? 2 : 0));
        _voteIfValidator(id);
    }

    /// @notice Propose `auditor` (an identity) with the libp2p peer id of its read-only node; an empty
    ///         peer id removes the auditor role and its node's access.
    function proposeAuditor(address auditor, string calldata peerId) external returns (uint256 id) {
        if (bytes(peerId).length > 128) revert InvalidProposal("peer id");
        id = _newProposal(SET_AUDITOR, auditor, 0);
        _proposals[id].peerId = peerId;
        _voteIfValidator(id);
    }

    /// @notice A current validator votes for proposal `id`; the vote that makes a majority executes it.
    function vote(uint256 id) external onlyValidator {
        Proposal storage p = _proposals[id];
        if (p.kind == 0) revert UnknownProposal(id);
        if (p.executed) revert AlreadyExecuted(id);
        if (voted[id][msg.sender]) revert AlreadyVoted(id, msg.sender);
        _vote(id);
    }

    // ---- internals ----

    function _newProposal(uint8 kind, address subject, uint256 roleBits) private returns (uint256 id) {
        if (roles[msg.sender] & (VALIDATOR | ADMIN) == 0) revert NotProposer(msg.sender);
        id = ++proposalCount;
        Proposal storage p = _proposals[id];
        p.kind = kind;
        p.subject = subject;
        p.proposer = msg.sender;
        p.roles = roleBits;
        emit Proposed(id, kind, subject, roleBits, msg.sender);
    }

    function _voteIfValidator(uint256 id) private {
        if (roles[msg.sender] & VALIDATOR != 0) _vote(id);
    }

    function _vote(uint256 id) private {
        Proposal storage p = _proposals[id];
        voted[id][msg.sender] = true;
        p.votes += 1;
        uint256 needed = votesNeeded();
        emit Voted(id, msg.sender, p.votes, needed);
        if (p.votes >= needed) {
            p.executed = true;
            _execute(p);
            emit Executed(id);
        }
    }

    function _execute(Proposal storage p) private {
        address subject = p.subject;
        if (p.kind == ADD_VALIDATOR) {
            if (roles[subject] & VALIDATOR != 0) revert InvalidProposal("already a validator");
            _validators.push(subject);
            _validatorInfo[subject] = ValidatorInfo(p.blsPublicKey, p.blsProofOfPossession, p.peerId);
            _setRoles(subject, roles[subject] | VALIDATOR | MEMBER);
            emit ValidatorAdded(subject, p.blsPublicKey, p.peerId);
        } else if (p.kind == REMOVE_VALIDATOR) {
            if (roles[subject] & VALIDATOR == 0) revert InvalidProposal("not a validator");
            if (_validators.length == 1) revert InvalidProposal("last validator");
            uint256 n = _validators.length;
            for (uint256 i = 0; i < n; i++) {
                if (_validators[i] == subject) {
                    // keep the proposer order of the others
                    for (uint256 j = i; j + 1 < n; j++) {
                        _validators[j] = _validators[j + 1];
                    }
                    _validators.pop();
                    break;
                }
            }
            delete _validatorInfo[subject];
            _setRoles(subject, roles[subject] & ~VALIDATOR);
            emit ValidatorRemoved(subject);
        } else if (p.kind == GRANT_ROLES) {
            _setRoles(subject, roles[subject] | p.roles);
        } else if (p.kind == REVOKE_ROLES) {
            _setRoles(subject, roles[subject] & ~p.roles);
        } else if (p.kind == SET_AUDITOR) {
            auditorPeerId[subject] = p.peerId;
            _setRoles(subject, bytes(p.peerId).length == 0 ? roles[subject] & ~AUDITOR : roles[subject] | AUDITOR);
            emit AuditorChanged(subject, p.peerId);
        } else {
            openMembership = p.roles & 1 != 0;
            openDeployment = p.roles & 2 != 0;
            emit OpenChanged(openMembership, openDeployment);
        }
    }

    function _setRoles(address account, uint256 roleBits) private {
        roles[account] = roleBits;
        if (_accountIndex[account] == 0) {
            _accounts.push(account);
            _accountIndex[account] = _accounts.length;
        }
        emit RolesChanged(account, roleBits);
    }

    function _possessionProven(bytes calldata key, bytes calldata proof) private view returns (bool) {
        if (key.length != 48 || proof.length != 96) return false;
        (bool ok, bytes memory out) = POP_VERIFIER.staticcall(abi.encodePacked(key, proof));
        return ok && out.length == 32 && abi.decode(out, (uint256)) == 1;
    }
}
