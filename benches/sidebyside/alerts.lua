-- TradingView-shaped alerts for wrk. Each request is the next alert of one
-- strategy — long, then flat, then long … — with a unique id and the current
-- time, so every alert a receiver accepts is a new trade to execute.
--
-- TARGETS names a file of lines "<path> <secret> <symbol> <price>"; THREADS must be
-- wrk's -t: thread i sends for the strategies i, i+THREADS, … so no two
-- threads interleave one strategy's alerts.

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

local mine = {}
local next_target = 1
local sent = 0
-- Ids are unique across runs against one server too (a second wrk run's
-- "wrk-0-1" would otherwise be answered as a duplicate, which is cheap).
local run = os.getenv("RUN") or tostring(os.time())
accepted, duplicate, refused, failed = 0, 0, 0, 0
in_flight, in_position, no_position, throttled, behind, other_code = 0, 0, 0, 0, 0, ""

function init(args)
  local nthreads = tonumber(os.getenv("THREADS") or "1")
  local i = 0
  for line in io.lines(os.getenv("TARGETS") or "targets.txt") do
    local path, secret, symbol, price = line:match("^(%S+) (%S+) (%S+) (%S+)$")
    if path then
      if i % nthreads == index then
        table.insert(mine, { path = path, secret = secret, symbol = symbol, price = price, long = true })
      end
      i = i + 1
    end
  end
  if #mine == 0 then
    error("no strategies for thread " .. index .. " in " .. (os.getenv("TARGETS") or "targets.txt"))
  end
end

function request()
  local t = mine[next_target]
  next_target = next_target % #mine + 1
  sent = sent + 1
  local action, position = "buy", "long"
  if not t.long then action, position = "sell", "flat" end
  t.long = not t.long
  local body = string.format(
    '{"secret":"%s","action":"%s","market_position":"%s","symbol":"%s","price":"%s","timestamp":"%s","id":"wrk-%s-%d-%d"}',
    t.secret, action, position, t.symbol, t.price, os.date("!%Y-%m-%dT%H:%M:%SZ"), run, index, sent)
  return wrk.format("POST", t.path, { ["Content-Type"] = "text/plain" }, body)
end

function response(status, headers, body)
  if status == 202 then
    accepted = accepted + 1
  elseif status == 200 then
    duplicate = duplicate + 1
  elseif status >= 400 and status < 500 then
    refused = refused + 1
    -- The refusals a strategy hit faster than its orders complete must
    -- make (one order in flight per strategy, then the position's state).
    if body:find("order_in_flight", 1, true) then
      in_flight = in_flight + 1
    elseif body:find("already_in_position", 1, true) then
      in_position = in_position + 1
    elseif body:find("no_open_position", 1, true) then
      no_position = no_position + 1
    elseif status == 429 then
      throttled = throttled + 1
    elseif other_code == "" then
      other_code = body:match('"code":"([^"]+)"') or tostring(status)
    end
  elseif status == 503 and body:find("records_behind", 1, true) then
    -- New positions wait while the database writer catches up.
    refused = refused + 1
    behind = behind + 1
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local a, d, r, f, fl, ip, np, th, bh, oc = 0, 0, 0, 0, 0, 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    d = d + t:get("duplicate")
    r = r + t:get("refused")
    f = f + t:get("failed")
    fl = fl + t:get("in_flight")
    ip = ip + t:get("in_position")
    np = np + t:get("no_position")
    th = th + t:get("throttled")
    bh = bh + t:get("behind")
    if oc == "" then oc = t:get("other_code") end
  end
  local secs = summary.duration / 1e6
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"accepted":%d,"accepted_rps":%.1f,"duplicate":%d,"refused":%d,"order_in_flight":%d,"already_in_position":%d,"no_open_position":%d,"throttled":%d,"records_behind":%d,"other_refusal":"%s","failed":%d,"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d}\n',
    summary.requests, secs, summary.requests / secs, a, a / secs, d, r, fl, ip, np, th, bh, oc, f,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max))
end
