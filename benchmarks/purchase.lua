-- The buyers of benchmarks/purchase.py, for wrk (`apt-get install wrk`): each wrk thread has one
-- keep-alive connection and buys for one agency, racing the other buyers of its city.
--
-- purchase.py writes one plan per thread in the folder named by PURCHASE_PLAN: `<n>.plan`, n from
-- 1, whose first line is the agency's API key and each further line a lead to buy, in order:
-- `<lead id> <mode> <price_cents>`. A thread walks its plan once, one
-- `POST /api/v1/leads/{id}/purchase` with `{"mode": …, "price_cents": …}` per lead (and an
-- Idempotency-Key of its own when PURCHASE_IDEMPOTENCY names the run). It counts its answers by
-- status and its lost races (409) by problem `code`, and keeps each answer's status, latency
-- and end time (µs, CLOCK_MONOTONIC). The run ends after the answer that comes past
-- PURCHASE_DEADLINE_US (CLOCK_MONOTONIC, µs), or after the answer to a thread's last lead (that
-- thread then creates `walked` in the folder, and the others stop at their next answer): so no
-- purchase is left in flight, unanswered, when the database is checked. A thread that stops
-- creates `stopped-<n>`; when all have, purchase.py ends wrk (SIGINT). done() prints one line:
-- `PURCHASE_RESULT ` and a JSON object (per thread: its figures; and wrk's own counts and
-- latency histogram).

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } purchase_timespec;
int clock_gettime(int clock_id, purchase_timespec *now);
]])
local CLOCK_MONOTONIC = 1
local SAMPLES = 5 -- answers other than 201 and 409 kept per thread, for the report
local clock = ffi.new("purchase_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, clock)
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end

-- The main state: every thread, numbered, for done().

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

-- Each thread's state. The globals below are read by done() (wrk copies flat tables only).

local folder = os.getenv("PURCHASE_PLAN")
local run = os.getenv("PURCHASE_IDEMPOTENCY") or ""
local deadline = tonumber(os.getenv("PURCHASE_DEADLINE_US"))
local plan = {}
local headers = {}
local current = 1 -- the plan's line the next request is for; moves on when it is answered
local sent_us = 0
walked = false -- this thread answered for every lead of its plan
stopped = false
statuses = {} -- status → answers
codes = {} -- problem code → 409 answers (lost races)
samples = {} -- "status body" of unexpected answers
status_of = {} -- per answer, in order: its status,
latency_us = {} -- the time from its request being written to its answer being read,
end_us = {} -- and when it was read

function init(args)
  local lines = io.lines(folder .. "/" .. id .. ".plan")
  headers["Authorization"] = "Bearer " .. lines()
  headers["Content-Type"] = "application/json"
  for line in lines do
    local lead, mode, price = line:match("^(%S+) (%S+) (%d+)$")
    plan[#plan + 1] = {
      path = "/api/v1/leads/" .. lead .. "/purchase",
      body = string.format('{"mode":"%s","price_cents":%s}', mode, price),
    }
  end
end

local function touch(name)
  io.open(folder .. "/" .. name, "w"):close()
end

local function exists(name)
  local file = io.open(folder .. "/" .. name)
  if file then
    file:close()
  end
  return file ~= nil
end

local function stop()
  stopped = true
  touch("stopped-" .. id)
  wrk.thread:stop() -- before another request is written
end

-- wrk also calls request() once on the first thread before the run, to check the request: the
-- plan moves on only in response(), so that call costs nothing.
function request()
  local item = plan[current]
  if item == nil then -- an empty plan: nothing to buy
    if not stopped then
      walked = true
      touch("walked")
      stop()
    end
    return wrk.format("GET", "/healthz") -- not counted
  end
  if run ~= "" then
    headers["Idempotency-Key"] = string.format("%s-%d-%d", run, id, current)
  end
  sent_us = now_us()
  return wrk.format("POST", item.path, headers, item.body)
end

function response(status, _, body)
  if stopped then
    return
  end
  local ended = now_us()
  current = current + 1
  statuses[status] = (statuses[status] or 0) + 1
  if status == 409 then
    local code = body:match('"code"%s*:%s*"([^"]*)"') or "?"
    codes[code] = (codes[code] or 0) + 1
  end
  if status ~= 201 and status ~= 409 and #samples < SAMPLES then
    samples[#samples + 1] = status .. " " .. body:sub(1, 300)
  end
  local n = #status_of + 1
  status_of[n] = status
  latency_us[n] = ended - sent_us
  end_us[n] = ended
  if plan[current] == nil then
    walked = true
    touch("walked")
    stop()
  elseif ended >= deadline or exists("walked") then
    stop()
  end
end

-- JSON, for the few shapes above.

local function quoted(s)
  s = tostring(s):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end)
  return '"' .. s .. '"'
end

local function numbers(list)
  local out = {}
  for i = 1, #list do
    out[i] = string.format("%.0f", list[i])
  end
  return "[" .. table.concat(out, ",") .. "]"
end

local function strings(list)
  local out = {}
  for i = 1, #list do
    out[i] = quoted(list[i])
  end
  return "[" .. table.concat(out, ",") .. "]"
end

local function counts(map)
  local out = {}
  for key, value in pairs(map) do
    out[#out + 1] = quoted(key) .. ":" .. string.format("%.0f", value)
  end
  return "{" .. table.concat(out, ",") .. "}"
end

function done(summary, latency, _)
  local each = {}
  for _, thread in ipairs(threads) do
    each[#each + 1] = "{"
      .. table.concat({
        '"walked":' .. tostring(thread:get("walked")),
        '"statuses":' .. counts(thread:get("statuses")),
        '"codes":' .. counts(thread:get("codes")),
        '"samples":' .. strings(thread:get("samples")),
        '"status":' .. numbers(thread:get("status_of")),
        '"latency_us":' .. numbers(thread:get("latency_us")),
        '"end_us":' .. numbers(thread:get("end_us")),
      }, ",")
      .. "}"
  end
  local e = summary.errors
  local wrk_latency = {}
  for _, p in ipairs({ 50, 90, 99 }) do
    wrk_latency[#wrk_latency + 1] = string.format('"p%d":%.0f', p, latency:percentile(p))
  end
  io.write(
    "PURCHASE_RESULT {",
    string.format('"duration_us":%.0f,"requests":%.0f,', summary.duration, summary.requests),
    string.format(
      '"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},',
      e.connect,
      e.read,
      e.write,
      e.timeout
    ),
    string.format('"wrk_latency_us":{%s,"mean":%.0f,"max":%.0f},', table.concat(wrk_latency, ","), latency.mean, latency.max),
    '"threads":[',
    table.concat(each, ","),
    "]}\n"
  )
end
