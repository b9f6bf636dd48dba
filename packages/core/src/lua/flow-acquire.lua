-- Takes a place under a flow limit (one job and key), or joins the line for it.
-- KEYS: slots (holder -> when it lapses), line (run -> arrival ms × 1000, see flow-admit.lua), seen (run in
-- line -> when it last asked)
-- ARGV: holder, run id, limit, now (ms), hold (ms a taken place lasts), arrival (ms), stale (ms)
-- Returns {1, 1 if it had waited in line else 0} when taken, or {0, rank in line, when the place
-- that rank waits for lapses (ms)}.
local slots, line, seen = KEYS[1], KEYS[2], KEYS[3]
local holder, run = ARGV[1], ARGV[2]
local limit, now, hold, arrival, stale = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])

-- Places that lapsed: a dead worker's run (concurrency), a start older than the window (rate).
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
-- Runs that stopped asking (removed or cancelled while they waited) give up their place in line.
local gone = redis.call('ZRANGEBYSCORE', seen, '-inf', now - stale, 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('ZREM', line, unpack(gone))
  redis.call('ZREM', seen, unpack(gone))
end

local function keep()
  redis.call('PEXPIRE', slots, hold + stale)
  redis.call('PEXPIRE', line, stale * 2)
  redis.call('PEXPIRE', seen, stale * 2)
end

if redis.call('ZSCORE', slots, holder) then
  -- Held already: the same run asking again after its worker lost the answer.
  redis.call('ZADD', slots, now + hold, holder)
  keep()
  return {1, 0}
end

local queued = redis.call('ZSCORE', line, run) and 1 or 0
local free = limit - redis.call('ZCARD', slots)
local rank = 0
if redis.call('ZCARD', line) > 0 then
  -- First come, first served: a run takes a free place only ahead of those who waited longer.
  redis.call('ZADD', line, 'NX', arrival * 1000, run)
  rank = redis.call('ZRANK', line, run)
end
if rank < free then
  redis.call('ZADD', slots, now + hold, holder)
  redis.call('ZREM', line, run)
  redis.call('ZREM', seen, run)
  keep()
  return {1, queued}
end

redis.call('ZADD', line, 'NX', arrival * 1000, run)
rank = redis.call('ZRANK', line, run)
redis.call('ZADD', seen, now, run)
keep()
-- The place this rank waits for: the (rank mod limit)-th to lapse, some windows on.
local lapse = redis.call('ZRANGE', slots, rank % limit, rank % limit, 'WITHSCORES')
return {0, rank, tonumber(lapse[2] or now)}
