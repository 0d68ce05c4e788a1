// The TradingBot API, typed from its OpenAPI document (`schema.d.ts`,
// generated: `npm run generate` after `tradingbot openapi > openapi.json`).
// Requests, query parameters, bodies and answers are checked by the
// compiler; a change to the API that breaks a caller breaks its build.

import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";

export type { components, paths };

/** An error answer of the API (`application/problem+json`). */
export type Problem = components["schemas"]["Problem"];

/**
 * A client for `baseUrl` (e.g. `http://127.0.0.1:8001`). `token` is asked
 * for each request, so a refreshed access token is used as soon as the
 * caller has it.
 */
export function createTradingBotClient(
  baseUrl: string,
  token?: () => string | undefined,
) {
  const client = createClient<paths>({ baseUrl });
  if (token) {
    const auth: Middleware = {
      onRequest({ request }) {
        const t = token();
        if (t) request.headers.set("Authorization", `Bearer ${t}`);
        return request;
      },
    };
    client.use(auth);
  }
  return client;
}
