import { buildModule } from "@nomicfoundation/hardhat-ignition/modules";
import { deployMarket } from "./core.ts";

/**
 * Registry and market over an existing ERC-20 (parameter `token`: its address). The token must
 * be a plain ERC-20: no fee on transfer, no rebasing.
 *   npx hardhat ignition deploy ignition/modules/TessellateWithToken.ts --network remote \
 *     --parameters ignition/parameters/<network>.json
 */
export default buildModule("TessellateWithToken", (m) => {
  const token = m.contractAt("RenderToken", m.getParameter<string>("token"));
  const { registry, market } = deployMarket(m, token);
  return { token, registry, market };
});
