-- wrk: GET <path prefix><id> with an id drawn at random from the file named by BENCH_IDS_FILE (one id a line).
-- BENCH_PATH_PREFIX defaults to /v1/tickets/. The same file feeds the product and the baseline.
local ids = {}
local prefix = os.getenv("BENCH_PATH_PREFIX") or "/v1/tickets/"

function init(args)
  local path = os.getenv("BENCH_IDS_FILE")
  for line in io.lines(path) do
    if #line > 0 then ids[#ids + 1] = line end
  end
  math.randomseed(42)
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)])
end
