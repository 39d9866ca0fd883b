-- wrk script for bench/run.py: one candidate's cookies per request, round-robin from a file.
--
--   wrk -t2 -c8 -d10s --latency -s bench/rotate_cookies.lua URL -- COOKIE_FILE THREADS
--
-- COOKIE_FILE holds one Cookie header value per line (one candidate each). Every request also
-- carries a phone browser's User-Agent, so the app classifies the device as it would for a real
-- candidate. The same script drives the bare "hello" app, so both measurements pay the same
-- load-generator cost.

local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

local USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
  .. "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323b) NetType/WIFI Language/zh_CN"

function init(args)
  local file, threads = args[1], tonumber(args[2]) or 1
  requests = {}
  for line in io.lines(file) do
    if line ~= "" then
      requests[#requests + 1] = wrk.format(nil, nil, {["Cookie"] = line, ["User-Agent"] = USER_AGENT})
    end
  end
  if #requests == 0 then
    error("no cookies in " .. file)
  end
  -- Threads start at different places in the list so they do not hit the same candidates together.
  index = (id * math.floor(#requests / threads)) % #requests
end

function request()
  index = index % #requests + 1
  return requests[index]
end
