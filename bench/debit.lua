-- wrk: POST a debit of 1 per request, each with a key of its own, round robin over
-- the accounts in $ACCOUNTS (comma-separated employee ids).
local accounts = {}
for id in string.gmatch(os.getenv("ACCOUNTS"), "[^,]+") do
  table.insert(accounts, id)
end
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
wrk.headers["content-type"] = "application/json"
local counter = 0
request = function()
  counter = counter + 1
  local account = accounts[(counter % #accounts) + 1]
  local body = string.format('{"amount":1,"reason":"bench","idempotency_key":"bench-%d-%d"}', tid, counter)
  -- nil headers: wrk's own, with the token and tenant given by -H.
  return wrk.format("POST", "/api/wallet/accounts/" .. account .. "/debit", nil, body)
end
