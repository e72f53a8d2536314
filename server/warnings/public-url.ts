import type { Config } from '../config.js';

/** The base URL outsiders reach us at (PUBLIC_URL), else the address this node listens on. */
export function publicBaseUrl(config: Pick<Config, 'PUBLIC_URL'>, listenUrl: () => string | null): string | null {
  return config.PUBLIC_URL?.replace(/\/+$/, '') ?? listenUrl();
}
