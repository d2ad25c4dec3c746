// Runs with `npx hardhat test --network settle` against `settle node dev` (tests/e2e/test_hardhat.py).
const assert = require("node:assert/strict");
const { ethers, network } = require("hardhat");

describe("Counter on a Settle dev chain", function () {
  it("deploys, emits, reverts with a custom error, and follows evm_* time and snapshots", async function () {
    const [owner] = await ethers.getSigners();
    const counter = await ethers.deployContract("Counter", [3600]);
    await counter.waitForDeployment();

    const receipt = await (await counter.increment()).wait();
    assert.equal(receipt.status, 1);
    const event = counter.interface.parseLog(receipt.logs[0]);
    assert.equal(event.name, "Incremented");
    assert.equal(event.args.by, owner.address);
    assert.equal(await counter.count(), 1n);

    await assert.rejects(counter.unlockedIncrement.staticCall(), (error) => {
      // The node answers error code 3 with the revert data; the custom error decodes from it.
      const decoded = counter.interface.parseError(error.data);
      assert.equal(decoded.name, "TooEarly");
      assert.ok(decoded.args.unlockTime > decoded.args.now_);
      return true;
    });

    const snapshot = await network.provider.send("evm_snapshot", []);
    await network.provider.send("evm_increaseTime", [3601]);
    await network.provider.send("evm_mine", []);
    await (await counter.unlockedIncrement()).wait();
    assert.equal(await counter.count(), 101n);

    assert.equal(await network.provider.send("evm_revert", [snapshot]), true);
    assert.equal(await counter.count(), 1n);
  });
});
