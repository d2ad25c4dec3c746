// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ComplianceModule} from "./ComplianceModule.sol";

/// @title CountryModule
/// @notice Country rules on the receiving investor (its identity's ISO 3166-1 numeric country in the
///         registry): a blocked country is refused ("COUNTRY_BLOCKED"); once any country is on the
///         allow list, only allowed countries may receive ("COUNTRY_NOT_ALLOWED").
/// @dev Only receivers are checked: an investor in a country blocked later may still sell.
contract CountryModule is ComplianceModule {
    /// @notice Countries on the allow list (0: no allow list, every unblocked country may receive).
    uint256 public allowedCount;
    mapping(uint16 country => bool) private _allowed;
    mapping(uint16 country => bool) private _blocked;

    /// @notice `country` joined or left the allow list.
    event CountryAllowed(uint16 indexed country, bool allowed);
    /// @notice `country` joined or left the deny list.
    event CountryBlocked(uint16 indexed country, bool blocked);

    constructor(address compliance_) ComplianceModule(compliance_) {}

    /// @notice Put `country` on (or off) the allow list.
    function setCountryAllowed(uint16 country, bool allowed) external onlyComplianceAdmin {
        if (_allowed[country] == allowed) return;
        _allowed[country] = allowed;
        if (allowed) ++allowedCount;
        else --allowedCount;
        emit CountryAllowed(country, allowed);
    }

    /// @notice Put `country` on (or off) the deny list.
    function setCountryBlocked(uint16 country, bool blocked) external onlyComplianceAdmin {
        _blocked[country] = blocked;
        emit CountryBlocked(country, blocked);
    }

    /// @notice True if `country` is on the allow list.
    function isCountryAllowed(uint16 country) external view returns (bool) {
        return _allowed[country];
    }

    /// @notice True if `country` is on the deny list.
    function isCountryBlocked(uint16 country) external view returns (bool) {
        return _blocked[country];
    }

    /// @notice bytes32(0) if this rule allows moving `amount` from `from` to `to`, else its reason.
    function check(address, address to, uint256) external view returns (bytes32) {
        if (to == address(0)) return 0;
        uint16 country = _token().identityRegistry().investorCountry(to);
        if (_blocked[country]) return "COUNTRY_BLOCKED";
        if (allowedCount > 0 && !_allowed[country]) return "COUNTRY_NOT_ALLOWED";
        return 0;
    }
}
