// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ICompliance, IComplianceModule} from "./ICompliance.sol";

/// @title ModularCompliance
/// @notice The compliance of one restricted token: an ordered list of rule modules (maximum holders,
///         maximum balance per investor, countries, lock-up, transfer limits, ...). A transfer,
///         mint or forced transfer is allowed only if every module allows it; after every balance
///         change each module hears of it to keep its counts. The admin adds and removes modules
///         while the token runs: no redeployment.
/// @dev DEFAULT_ADMIN_ROLE binds the token and manages modules (and, through `hasRole`, configures
///      the modules themselves). At most MAX_MODULES modules, so a transfer's cost stays bounded.
contract ModularCompliance is AccessControl, ICompliance {
    /// @notice Most modules one compliance may have.
    uint256 public constant MAX_MODULES = 10;

    /// @notice The token whose balance changes this compliance hears of.
    address public token;
    IComplianceModule[] private _modules;

    /// @notice The compliance now serves `token`.
    event TokenBound(address indexed token);
    /// @notice `module` joined the rules.
    event ModuleAdded(address indexed module);
    /// @notice `module` left the rules.
    event ModuleRemoved(address indexed module);

    /// @notice Only the bound token reports balance changes.
    error OnlyToken(address caller);
    /// @notice `module` was built for another compliance.
    error ModuleNotForThisCompliance(address module, address compliance);
    /// @notice `module` is already one of the rules.
    error ModuleAlreadyAdded(address module);
    /// @notice `module` is not one of the rules.
    error ModuleNotFound(address module);
    /// @notice MAX_MODULES reached.
    error TooManyModules(uint256 limit);

    /// @param admin Receives DEFAULT_ADMIN_ROLE.
    constructor(address admin) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @notice Serve `token_` (the token's admin then points the token here with `setCompliance`).
    function bindToken(address token_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        token = token_;
        emit TokenBound(token_);
    }

    /// @notice Add `module` (built for this compliance) to the rules.
    function addModule(IComplianceModule module) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (module.compliance() != address(this)) revert ModuleNotForThisCompliance(address(module), module.compliance());
        if (_modules.length >= MAX_MODULES) revert TooManyModules(MAX_MODULES);
        for (uint256 i = 0; i < _modules.length; ++i) {
            if (address(_modules[i]) == address(module)) revert ModuleAlreadyAdded(address(module));
        }
        _modules.push(module);
        emit ModuleAdded(address(module));
    }

    /// @notice Remove `module` from the rules.
    function removeModule(IComplianceModule module) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uint256 last = _modules.length;
        for (uint256 i = 0; i < last; ++i) {
            if (address(_modules[i]) == address(module)) {
                for (uint256 j = i + 1; j < last; ++j) _modules[j - 1] = _modules[j];
                _modules.pop();
                emit ModuleRemoved(address(module));
                return;
            }
        }
        revert ModuleNotFound(address(module));
    }

    /// @notice The modules, in the order they are consulted.
    function modules() external view returns (IComplianceModule[] memory) {
        return _modules;
    }

    /// @inheritdoc ICompliance
    function checkTransfer(address from, address to, uint256 amount) external view returns (bytes32 refusal) {
        for (uint256 i = 0; i < _modules.length; ++i) {
            refusal = _modules[i].check(from, to, amount);
            if (refusal != 0) return refusal;
        }
    }

    /// @inheritdoc ICompliance
    function transferred(address from, address to, uint256 amount) external {
        if (msg.sender != token) revert OnlyToken(msg.sender);
        for (uint256 i = 0; i < _modules.length; ++i) _modules[i].transferred(from, to, amount);
    }
}
