// Compiled with the client (`npm run check`): the calls a dashboard makes,
// so a renamed field or route fails the build here first.

import { createTradingBotClient, type Problem } from "./index";

export async function dashboard(baseUrl: string, accessToken: string) {
  const api = createTradingBotClient(baseUrl, () => accessToken);

  const history = await api.GET("/api/v1/positions/history", {
    params: { query: { side: "long", sort: "pnl_desc", per_page: 20 } },
  });
  if (history.error) {
    const p: Problem = history.error;
    throw new Error(`${p.code}: ${p.detail ?? ""}`);
  }
  const next: string | null | undefined = history.data.next_cursor;
  const firstPnl: number | undefined = history.data.items[0]?.realized_pnl;

  const equity = await api.GET("/api/v1/dashboard/equity", {
    params: { query: { interval: "1d" } },
  });
  const points = equity.data?.points.map((p) => [p.time, p.equity] as const);

  const strategy = await api.POST("/api/v1/strategies", {
    body: { indicator_id: "supertrend", account_id: 1 },
  });

  const unread = await api.GET("/api/v1/notifications/unread-count");
  const candles = await api.GET("/api/v1/market/{symbol}/candles", {
    params: { path: { symbol: "BTCUSDT" }, query: { interval: "1h", limit: 100 } },
  });

  return {
    next,
    firstPnl,
    points,
    strategy: strategy.data,
    unread: unread.data?.unread,
    candles: candles.data?.candles.length,
  };
}
