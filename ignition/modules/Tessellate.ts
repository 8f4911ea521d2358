import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { deployMarket } from "./core.ts";

/**
 * The whole protocol with its own payment token (RenderToken, permit-enabled): for the local
 * network and testnets. The deployer receives the initial supply and distributes it.
 *   npx hardhat ignition deploy ignition/modules/Tessellate.ts --network localhost
 */
export default buildModule("Tessellate", (m) => {
  const initialSupply = m.getParameter("initialSupply", 1_000_000_000n * 10n ** 18n);
  const token = m.contract("RenderToken", [initialSupply, m.getAccount(0)]);
  const { registry, market } = deployMarket(m, token);
  return { token, registry, market };
});
