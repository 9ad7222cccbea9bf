-- POST a debit of 1 token as one of the users whose access tokens are in BENCH_TOKENS,
-- each request with a fresh Idempotency-Key. BENCH_PATH picks the endpoint.
local tokens = {}
local counter = 0
local prefix = ""

function setup(thread)
  thread:set("id", tostring(math.random(1, 1e9)))
end

function init(args)
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  prefix = id or tostring(math.random(1, 1e9))
  math.randomseed(tonumber(prefix))
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. tokens[math.random(1, #tokens)],
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, '{"amount": 1}')
end
