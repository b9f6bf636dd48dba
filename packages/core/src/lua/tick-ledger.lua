-- A library, not a script: prepended to the scripts that write a schedule's tick ledger (see
-- tick-ledger/tick-codec.ts for the format). A ledger is a sorted set of ticks scored by the tick,
-- each member `<tick> <event> <event>...`; appending an event replaces the tick's member by a
-- longer one. It keeps at most max_ticks ticks, none older than max_age_ms, and the whole ledger
-- expires max_age_ms after its last write, so a deleted schedule's ledger goes too.
local function ledger_append(key, tick, event, now, max_ticks, max_age_ms)
  local entry = redis.call('ZRANGE', key, tick, tick, 'BYSCORE')[1]
  if entry then
    redis.call('ZREM', key, entry)
    entry = entry .. ' ' .. event
  else
    entry = tick .. ' ' .. event
  end
  redis.call('ZADD', key, tick, entry)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. (tonumber(now) - tonumber(max_age_ms)))
  redis.call('ZREMRANGEBYRANK', key, 0, -(tonumber(max_ticks) + 1))
  redis.call('PEXPIRE', key, max_age_ms)
end
