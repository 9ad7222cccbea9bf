-- One request per call, as one of the callers in BENCH_TOKENS (when set): each line is a
-- bearer token, optionally followed by a space and a user id that replaces `{user}` in
-- BENCH_PATH (a service key acting for that user). BENCH_METHOD (default POST) with
-- BENCH_BODY (default a consume of 1 token) and a fresh Idempotency-Key per POST.
local callers = {}
local counter = 0
local prefix = ""
local method = os.getenv("BENCH_METHOD") or "POST"
local body = os.getenv("BENCH_BODY") or '{"amount": 1}'
local path = os.getenv("BENCH_PATH")

-- Each thread's keys start with 12 random bytes of its own, so that no run repeats another
-- run's keys (LuaJIT's unseeded math.random gave every run the same ids and callers: a run
-- after the first was mostly replays of the one before).
local function random_hex(bytes)
  local source = assert(io.open("/dev/urandom", "rb"))
  local data = source:read(bytes)
  source:close()
  return (data:gsub(".", function(byte) return string.format("%02x", byte:byte()) end))
end

function setup(thread)
  thread:set("id", random_hex(12))
end

function init(args)
  local file = os.getenv("BENCH_TOKENS")
  if file and file ~= "" then
    for line in io.lines(file) do
      local token, user = line:match("^(%S+)%s*(%S*)$")
      callers[#callers + 1] = {token = token, user = user}
    end
  end
  prefix = id
  math.randomseed(tonumber(string.sub(prefix, 1, 8), 16))
end

function request()
  counter = counter + 1
  local headers = {}
  local target = path
  if #callers > 0 then
    local caller = callers[math.random(1, #callers)]
    headers["Authorization"] = "Bearer " .. caller.token
    target = path:gsub("{user}", caller.user)
  end
  if method == "GET" then
    return wrk.format("GET", target, headers)
  end
  headers["Content-Type"] = "application/json"
  headers["Idempotency-Key"] = prefix .. "-" .. counter
  return wrk.format(method, target, headers, body)
end
