-- Replays the pre-signed capture deliveries of BENCH_REQUESTS (one per line: body, a tab,
-- the signature header), each thread its own share, so each request captures a new invoice.
local requests = {}
local position = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("index", threads)
end

function init(args)
  local count = tonumber(os.getenv("BENCH_THREADS"))
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_REQUESTS")) do
    line_number = line_number + 1
    if line_number % count == index - 1 then
      local tab = string.find(line, "\t", 1, true)
      requests[#requests + 1] = { string.sub(line, 1, tab - 1), string.sub(line, tab + 1) }
    end
  end
end

function request()
  position = position % #requests + 1
  local delivery = requests[position]
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Payment-Signature"] = delivery[2],
  }
  return wrk.format("POST", os.getenv("BENCH_PATH"), headers, delivery[1])
end
