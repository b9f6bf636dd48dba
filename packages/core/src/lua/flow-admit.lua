-- At enqueue: is there room under a flow limit (one job and key) for one more run now? If not, the
-- run joins the line at once, so that it waits as a delayed job instead of in the queue, where it
-- would hold up every other key's runs until a worker took it just to put it in line.
-- KEYS: slots, line, seen (as in flow-acquire.lua), seq (a counter ordering the runs of one millisecond)
-- ARGV: run id, limit, now (ms), arrival (ms), stale (ms), reserve (ms; 0: never)
-- Returns {2, until (ms)} when the run took a place until then (see below), {1} when there is room,
-- or {0, rank in line, when the place that rank waits for lapses (ms)}.
local slots, line, seen, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local run = ARGV[1]
local limit, now, arrival, stale, reserve = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6] or '0')

redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local free = limit - redis.call('ZCARD', slots)
-- Nobody waits and a place is free: the run takes it now, until `reserve` from now, so that its
-- worker need not ask again before the handler (see FlowGate). A run that is not started by then
-- lets it lapse, and asks as any other.
if reserve > 0 and free > 0 and redis.call('ZCARD', line) == 0 then
  redis.call('ZADD', slots, now + reserve, run)
  if redis.call('PTTL', slots) < reserve + stale then redis.call('PEXPIRE', slots, reserve + stale) end
  return {2, now + reserve}
end
-- Every run enqueued now joins the line, those with room too: they keep their place while on their
-- way to a worker, so that the runs enqueued with them in the same moment cannot all count that room.
-- A line's score is the arrival (ms) × 1000 plus its order within that millisecond, so the runs
-- enqueued in one millisecond keep the order they came in.
local order = redis.call('INCR', seq) % 1000
redis.call('ZADD', line, 'NX', arrival * 1000 + order, run)
redis.call('ZADD', seen, now, run)
for _, key in ipairs({line, seen, seq}) do redis.call('PEXPIRE', key, stale * 2) end
local rank = redis.call('ZRANK', line, run)
if rank < free then return {1} end
local lapse = redis.call('ZRANGE', slots, rank % limit, rank % limit, 'WITHSCORES')
return {0, rank, tonumber(lapse[2] or now)}
