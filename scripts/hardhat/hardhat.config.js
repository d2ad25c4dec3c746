// Minimal config for `npx hardhat node`, the baseline of scripts/bench_rpc.py.
// Defaults are kept on purpose (chain id 31337, automine on, the default
// "test test ... junk" accounts), except the hardfork, pinned to prague to
// match Settle's EVM, and the block gas limit, set to Settle's dev 60M.
module.exports = {
  networks: {
    hardhat: {
      hardfork: "prague",
      blockGasLimit: 60_000_000,
      mining: { auto: true },
    },
  },
};
