-- Load script for `onevault bench` (wrk 4, LuaJIT). Every request carries events with ids no other
-- request uses, so duplicates never flatter a figure. Sending stops after the active window; once all
-- of a thread's requests are answered it prints IDLE, and the bench stops wrk with SIGINT when every
-- thread has. So every request sent is answered and counted, which lets the bench compare raw rows
-- with 2xx answers exactly. done() prints one JSON line after MARKER.
--
-- Arguments after `--`: mode (single | batch | get), id prefix, events per request, active seconds,
-- token, customer id.
local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local MARKER = "ONEVAULT_BENCH_JSON "
local IDLE = "ONEVAULT_BENCH_IDLE "
local timespec = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) / 1e9
end

local PAGES = { "", "pricing", "docs/getting-started", "blog/data-vault", "blog/group-commit", "cart",
  "checkout", "about", "careers", "contact", "products/analytics", "products/warehouse" }
local TYPES = { "page_view", "page_view", "page_view", "click", "scroll", "form_submit" }
local AGENTS = {
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
}

-- Main state: number the threads and keep them for done().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

-- Thread state. The counters are globals: done() reads them from each thread with thread:get().
-- `sent` is counted in delay(), which wrk calls exactly once before each request it sends (request()
-- is also called once more, by wrk itself, to check the script).
local mode, prefix, per_request, stop_at, headers, idle_said
local built = 0
sent, answered, first_at, last_at, statuses = 0, 0, nil, nil, {}

function init(args)
  mode, prefix, per_request = args[1], args[2], tonumber(args[3])
  stop_at = now() + tonumber(args[4])
  headers = { ["Authorization"] = "Bearer " .. args[5], ["X-Customer-ID"] = args[6] }
  if mode ~= "get" then headers["Content-Type"] = "application/json" end
end

local function event_json(n)
  local visitor = (tid * 7919 + n) % 20000
  local page = PAGES[n % #PAGES + 1]
  return string.format(
    '{"event_id":"%s_%d_%d","event_type":"%s","page_url":"https://shop.example.com/%s",'
      .. '"visitor_id":"visitor_%d","session_id":"sess_%d_%d","event_data":{"title":"Page %d",'
      .. '"referrer":"https://www.google.com/search?q=onevault","screen":"1920x1080","lang":"en-GB"}}',
    prefix, tid, n, TYPES[n % #TYPES + 1], page, visitor, visitor, math.floor(n / 50), n % 97)
end

function request()
  built = built + 1
  headers["User-Agent"] = AGENTS[built % #AGENTS + 1]
  if mode == "get" then return wrk.format("GET", nil, headers) end
  if mode == "single" then return wrk.format("POST", nil, headers, event_json(built)) end
  local events = {}
  for i = 1, per_request do events[i] = event_json((built - 1) * per_request + i) end
  return wrk.format("POST", nil, headers, '{"events":[' .. table.concat(events, ",") .. "]}")
end

function delay()
  if now() >= stop_at then -- the window is over: send no more, say so once everything is answered
    if answered >= sent and not idle_said then
      idle_said = true
      io.write(IDLE, tid, "\n")
      io.flush()
    end
    return 3600000
  end
  sent = sent + 1
  if first_at == nil then first_at = now() end
  return 0
end

function response(status)
  answered = answered + 1
  statuses[status] = (statuses[status] or 0) + 1
  last_at = now()
end

function done(summary, latency)
  local first, last, counts, unanswered = nil, nil, {}, 0
  for _, thread in ipairs(threads) do
    unanswered = unanswered + math.max(thread:get("sent") - thread:get("answered"), 0)
    local f, l = thread:get("first_at"), thread:get("last_at")
    if f ~= nil and (first == nil or f < first) then first = f end
    if l ~= nil and (last == nil or l > last) then last = l end
    for status, count in pairs(thread:get("statuses") or {}) do
      counts[#counts + 1] = string.format("[%d,%d]", status, count)
    end
  end
  local pcts = {}
  for _, p in ipairs({ 50, 90, 95, 99, 99.9 }) do
    pcts[#pcts + 1] = string.format('"%s":%d', tostring(p), latency:percentile(p))
  end
  local e = summary.errors
  io.write(MARKER, string.format(
    '{"requests":%d,"unanswered":%d,"active_seconds":%.6f,"wrk_seconds":%.6f,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
      .. '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"percentiles":{%s}},"statuses":[%s]}\n',
    summary.requests, unanswered, (last or 0) - (first or 0), summary.duration / 1e6, summary.bytes,
    e.connect, e.read, e.write, e.timeout, latency.min, latency.mean, latency.max,
    table.concat(pcts, ","), table.concat(counts, ",")))
end
