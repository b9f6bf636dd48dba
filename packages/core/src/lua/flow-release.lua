-- Gives back concurrency places, one per (slots, line) pair of KEYS, and names for each the runs in
-- its line that may now take one. The releases of one turn of a worker's event loop come together.
-- KEYS: slots 1, line 1, slots 2, line 2, ... (as in flow-acquire.lua; on a Redis Cluster, one pair)
-- ARGV: now (ms), then holder 1, limit 1, holder 2, limit 2, ...
-- Returns, for each pair, the run ids at the head of its line, as many as there are free places.
local now = tonumber(ARGV[1])
local heads = {}
for i = 1, #KEYS / 2 do
  local slots, line = KEYS[2 * i - 1], KEYS[2 * i]
  local holder, limit = ARGV[2 * i], tonumber(ARGV[2 * i + 1])
  redis.call('ZREM', slots, holder)
  redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
  local free = limit - redis.call('ZCARD', slots)
  heads[i] = free > 0 and redis.call('ZRANGE', line, 0, free - 1) or {}
end
return heads
