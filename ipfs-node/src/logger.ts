/**
 * What the node logs through: a structural subset of pino's logger (`logger.info({ cid }, "added")`),
 * so a pino instance can be passed as is.
 */
export interface IpfsNodeLogger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

const ignore = (): void => {};

export const silentLogger: IpfsNodeLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
