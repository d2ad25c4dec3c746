// A Hardhat 2 project whose tests run against a Settle dev node: `npx hardhat test --network settle`.
// Compiles offline: Hardhat downloads solc by default, so the compiler build is taken from the
// npm `solc` package (solcjs, pinned in package.json like contracts/package.json) instead.
const path = require("path");
const { subtask } = require("hardhat/config");
const { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } = require("hardhat/builtin-tasks/task-names");
require("@nomicfoundation/hardhat-ethers");

const SOLC_VERSION = "0.8.37";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args, hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) {
    return runSuper(args);
  }
  const solc = require("solc");
  return {
    compilerPath: require.resolve("solc/soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: solc.version(),
  };
});

// Build output goes where the test runner says (a temporary directory), else next to this file.
const out = process.env.HARDHAT_OUT_DIR || __dirname;

module.exports = {
  solidity: {
    version: SOLC_VERSION,
    // solcjs 0.8.37 defaults to osaka, newer than py-evm runs.
    settings: { evmVersion: "prague", optimizer: { enabled: false } },
  },
  networks: {
    settle: {
      url: process.env.SETTLE_RPC_URL || "http://127.0.0.1:8545",
      chainId: 1337,
      // "remote": the node's unlocked dev accounts, through eth_accounts and eth_sendTransaction.
    },
  },
  paths: {
    artifacts: path.join(out, "artifacts"),
    cache: path.join(out, "cache"),
  },
  mocha: { timeout: 60000 },
};
