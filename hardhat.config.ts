import { createRequire } from "node:module";
import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { configVariable, defineConfig } from "hardhat/config";

const require = createRequire(import.meta.url);

/** The compiler comes from the pinned npm `solc` package: Hardhat never downloads one. */
const SOLC_VERSION = "0.8.30";

// JobMarket is split in two codes (JobMarket + JobMarketExtension by delegatecall, see
// contracts/JobMarketBase.sol) to stay under EIP-170's 24,576 bytes of runtime code; the
// compiler's CBOR metadata trailer (53 bytes, only used by source-verification tools) is not
// appended. test/contracts/JobMarket.extension.test.ts prints both sizes.
export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  solidity: {
    profiles: {
      default: {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true, metadata: { appendCBOR: false } },
      },
      production: {
        version: SOLC_VERSION,
        path: require.resolve("solc/soljson.js"),
        settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun", viaIR: true, metadata: { appendCBOR: false } },
      },
    },
  },
  // Generated bindings use type-only namespaces, which the project's `erasableSyntaxOnly` check
  // flags; they are generated code, so they are not type-checked.
  typechain: { tsNocheck: true },
  paths: { tests: { mocha: "test/contracts", solidity: "test/solidity" } },
  test: {
    mocha: { timeout: 60_000 },
    solidity: { fuzz: { runs: process.env.CI ? 1024 : 256 }, invariant: { runs: process.env.CI ? 128 : 32, depth: 80 } },
  },
  networks: {
    hardhatMainnet: { type: "edr-simulated", chainType: "l1" },
    // The devnet chain; DEVNET_RPC_URL lets tests run their own node on another port.
    localhost: { type: "http", chainType: "l1", url: process.env.DEVNET_RPC_URL ?? "http://127.0.0.1:8545" },
    // Any EVM network: set TESSELLATE_RPC_URL and keep the deployer key in the Hardhat keystore
    // (`npx hardhat keystore set TESSELLATE_DEPLOYER_KEY`).
    remote: {
      type: "http",
      chainType: "generic",
      url: configVariable("TESSELLATE_RPC_URL"),
      accounts: [configVariable("TESSELLATE_DEPLOYER_KEY")],
    },
  },
});
