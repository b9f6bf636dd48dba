-- Appends events to tick ledgers, several in one call (the leader's per pass).
-- KEYS[i] the ledger of event i; ARGV[1] now (ms), ARGV[2] max ticks, ARGV[3] max age (ms),
-- then per event i (from 1) ARGV[2 + 2i] its tick, ARGV[3 + 2i] the event encoded.
-- A ledger (see tick-ledger/tick-codec.ts for the format) is a sorted set of ticks scored by the tick,
-- each member `<tick> <event> <event>...`; appending an event replaces the tick's member by a
-- longer one. Each new tick trims it to at most max_ticks ticks, none older than max_age_ms, and
-- the whole ledger expires max_age_ms after its last new tick, so a deleted schedule's goes too.
-- An event for a tick it holds already (most are: a start, an end) trims nothing: the count is
-- unchanged, and three commands fewer a run is what a tick of 500 runs feels.
local function ledger_append(key, tick, event, now, max_ticks, max_age_ms)
  local entry = redis.call('ZRANGE', key, tick, tick, 'BYSCORE')[1]
  if entry then
    redis.call('ZREM', key, entry)
    redis.call('ZADD', key, tick, entry .. ' ' .. event)
    return
  end
  redis.call('ZADD', key, tick, tick .. ' ' .. event)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(now) - tonumber(max_age_ms)))
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(max_ticks) + 1))
  redis.call('PEXPIRE', key, max_age_ms)
end

for i = 1, #KEYS do
  ledger_append(KEYS[i], ARGV[2 + 2 * i], ARGV[3 + 2 * i], ARGV[1], ARGV[2], ARGV[3])
end
return #KEYS
