-- Gives back a concurrency place and names the runs in line that may now take one.
-- KEYS: slots, line (as in flow-acquire.lua)
-- ARGV: holder, limit, now (ms)
-- Returns the run ids at the head of the line, as many as there are free places.
local slots, line = KEYS[1], KEYS[2]
local holder, limit, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREM', slots, holder)
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local free = limit - redis.call('ZCARD', slots)
if free <= 0 then return {} end
return redis.call('ZRANGE', line, 0, free - 1)
