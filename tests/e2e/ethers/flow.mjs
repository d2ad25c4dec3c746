// ethers.js v6 against a Settle dev node: deploy, transfer, events, revert
// reasons, WebSocket subscriptions.
//
//   node flow.mjs <http-rpc-url> <artifact.json> [ws-url]
//
// The WebSocket URL defaults to the HTTP URL with ws:// (Settle serves both on
// one port). Prints one JSON line with the results and exits 0; on any failure
// prints "flow.mjs FAILED: ..." to stderr and exits 1 (2 on timeout).
// Run by tests/e2e/test_ethers.py, which checks the printed values.
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const MNEMONIC = "test test test test test test test test test test test junk";
const TIMEOUT_MS = Number(process.env.FLOW_TIMEOUT_MS ?? 90_000);
const STEP_TIMEOUT_MS = 30_000;

const NAME = "Settle Test Token";
const SYMBOL = "STT";
const INITIAL_SUPPLY = ethers.parseUnits("1000000", 18);
const AMOUNT_1 = ethers.parseUnits("1234.5", 18);
const AMOUNT_2 = ethers.parseUnits("42", 18);
const EXPECTED_REASON = "SettleTestToken: deliberate failure";
const CUSTOM_ERROR_CODE = 4242n;

let step = "start";
const watchdog = setTimeout(() => {
  process.stderr.write(`flow.mjs FAILED: timed out after ${TIMEOUT_MS} ms during step "${step}"\n`);
  process.exit(2);
}, TIMEOUT_MS);

class FlowError extends Error {}

function check(condition, message) {
  if (!condition) throw new FlowError(message);
}

function withTimeout(promise, what, ms = STEP_TIMEOUT_MS) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new FlowError(`${what}: no result after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ethers answers an identical provider request made within 250 ms from a cache: the previous
// transaction's eth_getTransactionCount("pending") would give the next one its nonce on a fast chain.
function outliveEthersCache() {
  return new Promise((resolve) => setTimeout(resolve, 300));
}

function account(index) {
  return ethers.HDNodeWallet.fromPhrase(MNEMONIC, undefined, `m/44'/60'/0'/0/${index}`);
}

function eventArgs(parsed) {
  return { from: parsed.args.from, to: parsed.args.to, value: parsed.args.value.toString() };
}

async function expectRevert(call, what) {
  try {
    await call();
  } catch (error) {
    check(error.code === "CALL_EXCEPTION",
      `${what}: expected CALL_EXCEPTION, got ${error.code}: ${error.shortMessage ?? error.message}`);
    return error;
  }
  throw new FlowError(`${what}: call succeeded but should have reverted`);
}

async function main() {
  const [url, artifactPath, wsArg] = process.argv.slice(2);
  check(url && artifactPath, "usage: node flow.mjs <http-rpc-url> <artifact.json> [ws-url]");
  const wsUrl = wsArg ?? url.replace(/^http/, "ws");
  const artifact = JSON.parse(readFileSync(artifactPath, "utf8"));
  check(Array.isArray(artifact.abi) && /^0x[0-9a-f]+$/i.test(artifact.bytecode ?? ""),
    `${artifactPath}: no abi/bytecode`);

  step = "connect";
  const provider = new ethers.JsonRpcProvider(url, undefined, { pollingInterval: 200 });
  const network = await withTimeout(provider.getNetwork(), "getNetwork");
  const deployer = account(0).connect(provider);
  const recipient = account(1).address;
  check(deployer.address === "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    `unexpected account 0 address ${deployer.address}`);

  step = "deploy";
  const factory = new ethers.ContractFactory(artifact.abi, artifact.bytecode, deployer);
  const token = await factory.deploy(NAME, SYMBOL, INITIAL_SUPPLY);
  const deployTx = token.deploymentTransaction();
  await withTimeout(token.waitForDeployment(), "waitForDeployment");
  const tokenAddress = await token.getAddress();
  const deployReceipt = await withTimeout(deployTx.wait(1, STEP_TIMEOUT_MS), "deploy receipt");
  check(deployReceipt.status === 1, `deploy receipt status ${deployReceipt.status}`);
  check(deployReceipt.contractAddress === tokenAddress,
    `receipt contractAddress ${deployReceipt.contractAddress} != ${tokenAddress}`);
  check((await provider.getCode(tokenAddress)).length > 2, "no code at the token address");
  check(await token.name() === NAME && await token.symbol() === SYMBOL, "name/symbol mismatch");
  check(await token.totalSupply() === INITIAL_SUPPLY, "totalSupply mismatch");

  step = "transfer";
  await outliveEthersCache();
  const tx1 = await token.transfer(recipient, AMOUNT_1);
  const receipt1 = await withTimeout(tx1.wait(1, STEP_TIMEOUT_MS), "transfer receipt");
  check(receipt1.status === 1, `transfer receipt status ${receipt1.status}`);
  const parsed = receipt1.logs
    .filter((log) => log.address === tokenAddress)
    .map((log) => token.interface.parseLog(log))
    .filter((event) => event && event.name === "Transfer");
  check(parsed.length === 1, `expected 1 Transfer log in the receipt, got ${parsed.length}`);
  const transferEvent = eventArgs(parsed[0]);
  check(transferEvent.from === deployer.address && transferEvent.to === recipient
    && transferEvent.value === AMOUNT_1.toString(), `Transfer event args ${JSON.stringify(transferEvent)}`);

  const balanceAfter1 = {
    deployer: (await token.balanceOf(deployer.address)).toString(),
    recipient: (await token.balanceOf(recipient)).toString(),
  };
  check(balanceAfter1.recipient === AMOUNT_1.toString(), `recipient balance ${balanceAfter1.recipient}`);
  check(balanceAfter1.deployer === (INITIAL_SUPPLY - AMOUNT_1).toString(),
    `deployer balance ${balanceAfter1.deployer}`);

  step = "queryFilter";
  const history = await withTimeout(
    token.queryFilter(token.filters.Transfer(), 0, "latest"), "queryFilter");
  const queried = history.map((event) => ({ ...eventArgs(event), blockNumber: event.blockNumber,
    transactionHash: event.transactionHash }));
  check(queried.length === 2, `queryFilter returned ${queried.length} Transfer events, expected 2`);
  check(queried[0].from === ethers.ZeroAddress && queried[0].value === INITIAL_SUPPLY.toString(),
    `first Transfer should be the mint: ${JSON.stringify(queried[0])}`);
  check(queried[1].transactionHash === tx1.hash, "second Transfer should be the transfer");
  const toRecipient = await token.queryFilter(token.filters.Transfer(null, recipient), 0, "latest");
  check(toRecipient.length === 1, `Transfer(null, recipient) returned ${toRecipient.length} events`);

  step = "revert";
  const reasonError = await expectRevert(() => token.failWithReason(), "failWithReason()");
  check(reasonError.reason === EXPECTED_REASON, `revert reason ${JSON.stringify(reasonError.reason)}`);
  const estimateError = await expectRevert(
    () => token.failWithReason.estimateGas(), "estimateGas(failWithReason)");
  check(estimateError.reason === EXPECTED_REASON,
    `estimateGas revert reason ${JSON.stringify(estimateError.reason)}`);
  const customError = await expectRevert(
    () => token.failWithCustomError(CUSTOM_ERROR_CODE), "failWithCustomError()");
  check(customError.revert?.name === "DeliberateFailure"
    && customError.revert.args[0] === CUSTOM_ERROR_CODE,
    `custom error ${JSON.stringify(customError.revert, (_, v) => typeof v === "bigint" ? v.toString() : v)}`);

  step = "websocket";
  const wsProvider = new ethers.WebSocketProvider(wsUrl);
  const wsNetwork = await withTimeout(wsProvider.getNetwork(), "ws getNetwork");
  check(wsNetwork.chainId === network.chainId, `ws chain id ${wsNetwork.chainId} != ${network.chainId}`);
  // contract.on() sends eth_subscribe without waiting for its answer; wait for
  // the subscription id (ethers registers it through _register) before
  // sending the transfer, or the log could go out before the subscription exists.
  const subscribed = new Promise((resolve) => {
    const register = wsProvider._register.bind(wsProvider);
    wsProvider._register = (filterId, subscriber) => {
      register(filterId, subscriber);
      resolve(filterId);
    };
  });
  const wsToken = new ethers.Contract(tokenAddress, artifact.abi, wsProvider);
  let onEvent;
  const received = new Promise((resolve) => { onEvent = resolve; });
  await wsToken.on("Transfer", (from, to, value, payload) => {
    onEvent({ from, to, value: value.toString(), transactionHash: payload.log.transactionHash,
      blockNumber: payload.log.blockNumber });
  });
  const subscriptionId = await withTimeout(subscribed, "eth_subscribe(logs)");

  await outliveEthersCache();
  const tx2 = await token.transfer(recipient, AMOUNT_2);
  const wsEvent = await withTimeout(received, "Transfer over WebSocket");
  const receipt2 = await withTimeout(tx2.wait(1, STEP_TIMEOUT_MS), "second transfer receipt");
  check(receipt2.status === 1, `second transfer receipt status ${receipt2.status}`);
  check(wsEvent.transactionHash === tx2.hash && wsEvent.from === deployer.address
    && wsEvent.to === recipient && wsEvent.value === AMOUNT_2.toString(),
    `WebSocket Transfer event ${JSON.stringify(wsEvent)}`);
  await wsToken.removeAllListeners();
  wsProvider.destroy();

  step = "final balances";
  const finalBalances = {
    deployer: (await token.balanceOf(deployer.address)).toString(),
    recipient: (await token.balanceOf(recipient)).toString(),
  };
  check(finalBalances.recipient === (AMOUNT_1 + AMOUNT_2).toString(),
    `final recipient balance ${finalBalances.recipient}`);
  provider.destroy();

  return {
    ok: true,
    ethers: ethers.version,
    chainId: network.chainId.toString(),
    deployer: deployer.address,
    recipient,
    token: tokenAddress,
    deployTx: deployTx.hash,
    deployBlock: deployReceipt.blockNumber,
    initialSupply: INITIAL_SUPPLY.toString(),
    amounts: [AMOUNT_1.toString(), AMOUNT_2.toString()],
    transferTx: tx1.hash,
    transferBlock: receipt1.blockNumber,
    transferEvent,
    balancesAfterTransfer: balanceAfter1,
    queryFilter: queried,
    revertReason: reasonError.reason,
    estimateGasRevertReason: estimateError.reason,
    customError: { name: customError.revert.name, args: customError.revert.args.map(String) },
    wsSubscriptionId: subscriptionId,
    secondTransferTx: tx2.hash,
    wsEvent,
    finalBalances,
  };
}

main().then(
  (result) => {
    clearTimeout(watchdog);
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(0);
  },
  (error) => {
    clearTimeout(watchdog);
    const detail = error instanceof FlowError ? error.message : (error?.stack ?? String(error));
    process.stderr.write(`flow.mjs FAILED during step "${step}": ${detail}\n`);
    process.exit(1);
  },
);
