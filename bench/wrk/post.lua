-- POST BENCH_BODY (default: a consume of 1 token) to BENCH_PATH as one of the users in
-- BENCH_TOKENS, with a fresh Idempotency-Key per request.
local tokens = {}
local counter = 0
local prefix = ""
local body = os.getenv("BENCH_BODY") or '{"amount": 1}'

function setup(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  prefix = id
  math.randomseed(tonumber(prefix))
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, body)
end
