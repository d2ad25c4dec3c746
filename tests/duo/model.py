"""An independent model of the DUO formulas, in exact rational arithmetic (fractions).

It is written from the whitepaper (§2.4, §2.5, the NAV formulas of issue 5) and not from the
Solidity: NAVs, creation and redemption amounts, and the reset payouts by value conservation.
Tests compare the contract's integer results with it within a rounding tolerance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

WAD = 10**18
THRESHOLD = Fraction(1, 100)


def navs(price: Fraction, reset_price: Fraction, periods: int, alpha: Fraction, beta: Fraction,
         coupon: Fraction) -> tuple[Fraction, Fraction]:
    """NAV_A = 1 + coupon*n; NAV_B = (1+alpha)*beta*P/P0 - alpha*NAV_A (B floored at 0)."""
    parent = (1 + alpha) * beta * price / reset_price
    nav_a = 1 + coupon * periods
    if parent <= alpha * nav_a:
        return parent / alpha, Fraction(0)
    return nav_a, parent - alpha * nav_a


@dataclass
class Model:
    """Holders' A and B balances (in tokens, as fractions) and the product's price state."""

    alpha: Fraction
    coupon: Fraction
    period: int
    reset_price: Fraction
    reset_time: int
    beta: Fraction = Fraction(1)
    a: dict[str, Fraction] = field(default_factory=dict)
    b: dict[str, Fraction] = field(default_factory=dict)

    def listed(self, holder: str) -> bool:
        """§2.5: processed at resets unless both balances are below 0.01."""
        return self.a.get(holder, 0) >= THRESHOLD or self.b.get(holder, 0) >= THRESHOLD

    def create(self, holder: str, eth_net: Fraction) -> tuple[Fraction, Fraction]:
        """Net coin in -> B = E*P0/((1+alpha)*beta), A = alpha*B."""
        new_b = eth_net * self.reset_price / ((1 + self.alpha) * self.beta)
        new_a = self.alpha * new_b
        self.a[holder] = self.a.get(holder, 0) + new_a
        self.b[holder] = self.b.get(holder, 0) + new_b
        return new_a, new_b

    def redeem(self, holder: str, amount_b: Fraction) -> Fraction:
        """Redeem amount_b B with alpha*amount_b A; gross coin out = (A+B)*beta/P0."""
        amount_a = self.alpha * amount_b
        self.a[holder] -= amount_a
        self.b[holder] -= amount_b
        return (amount_a + amount_b) * self.beta / self.reset_price

    def transfer(self, which: str, sender: str, receiver: str, amount: Fraction) -> None:
        book = self.a if which == "A" else self.b
        book[sender] -= amount
        book[receiver] = book.get(receiver, 0) + amount

    def navs_at(self, price: Fraction, time: int) -> tuple[Fraction, Fraction]:
        return navs(price, self.reset_price, (time - self.reset_time) // self.period, self.alpha, self.beta,
                    self.coupon)

    def reset(self, kind: str, price: Fraction, time: int, nav_a: Fraction, nav_b: Fraction) -> Fraction:
        """Pay every listed holder per §2.4 so that its value A*NAV_A + B*NAV_B is unchanged; returns
        NAV_B after the reset (NAV_A is always 1 after it).

        upward: A holders take their whole payout in A (A' = A*NAV_A); each B keeps NAV_A worth of B
        and takes its further excess as new A and B in the alpha ratio. downward: every token keeps
        NAV_B worth of itself; A's excess becomes new A and B in the alpha ratio. periodic: every A
        is kept and its coupon NAV_A - 1 becomes new A and B in the alpha ratio, as a creation; with
        NAV_B >= 1, every B is kept and its excess NAV_B - 1 is paid the same way (both NAVs back at
        1); with NAV_B < 1 B is left alone and keeps its NAV, beta = (alpha + NAV_B)/(1 + alpha)
        making that NAV and the creation price of a pair (alpha*1 + NAV_B) agree.
        """
        alpha = self.alpha
        nav_b_after, beta = Fraction(1), Fraction(1)
        if kind == "periodic" and nav_b < 1:
            nav_b_after, beta = nav_b, (alpha + nav_b) / (1 + alpha)
        for holder in [h for h in set(self.a) | set(self.b) if self.listed(h)]:
            old_a, old_b = self.a.get(holder, Fraction(0)), self.b.get(holder, Fraction(0))
            if kind == "upward":
                units = old_b * (nav_b - nav_a) / (1 + alpha)
                new_a, new_b = old_a * nav_a + alpha * units, old_b * nav_a + units
            elif kind == "downward":
                units = old_a * (nav_a - nav_b) / (1 + alpha)
                new_a, new_b = old_a * nav_b + alpha * units, old_b * nav_b + units
            elif nav_b >= 1:
                units = (old_a * (nav_a - 1) + old_b * (nav_b - 1)) / (1 + alpha)
                new_a, new_b = old_a + alpha * units, old_b + units
            else:
                units = old_a * (nav_a - 1) / (alpha + nav_b)
                new_a, new_b = old_a + alpha * units, old_b + units
            assert min(new_a, new_b, units) >= 0, (kind, nav_a, nav_b)
            # value conservation, exactly
            assert new_a + new_b * nav_b_after == old_a * nav_a + old_b * nav_b
            self.a[holder], self.b[holder] = new_a, new_b
        self.reset_price, self.reset_time, self.beta = price, time, beta
        return nav_b_after


def reset_kind(nav_a: Fraction, nav_b: Fraction, upper: Fraction, lower: Fraction,
               periodic: Fraction) -> str | None:
    """Which reset the NAVs call for (§2.2.2), None for none.

    Downward first (B's collateral is at risk), then upward, which §2.4 can pay only while B's
    new A covers A's new B, i.e. NAV_B >= NAV_A; a NAV_A above that (NAV_A > NAV_B >= upper >=
    periodic, after prices lapsed) is a periodic reset.
    """
    if nav_b <= lower:
        return "downward"
    if nav_b >= upper and nav_b >= nav_a:
        return "upward"
    if nav_a >= periodic or nav_b >= upper:
        return "periodic"
    return None
