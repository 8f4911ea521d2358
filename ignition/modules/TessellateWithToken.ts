import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { checkToken, deployMarket } from "./core.ts";

/**
 * Registry and market over an existing ERC-20 (parameter `token`: its address). The token must
 * be a plain ERC-20: no fee on transfer, no rebasing. The module first sends `tokenCheckAmount`
 * (default 1,000,000 units) from the deployer through TokenProbe and back, and stops if any of it
 * went missing; the market and the registry also check every pull.
 *   npx hardhat ignition deploy ignition/modules/TessellateWithToken.ts --network remote \
 *     --parameters ignition/parameters/<network>.json
 */
export default buildModule("TessellateWithToken", (m) => {
  const token = m.contractAt("RenderToken", m.getParameter<string>("token"));
  const check = checkToken(m, token);
  const { registry, market } = deployMarket(m, token, [check]);
  return { token, registry, market };
});
