-- KEYS[1] leader key, KEYS[2] term counter, KEYS[3] leader terms hash, KEYS[4] leader seen hash;
-- ARGV[1] token, ARGV[2] ttl ms, ARGV[3] the term's record (`{ replica, electedAt }` JSON),
-- ARGV[4] now (ms), ARGV[5] how many recent terms the history keeps.
-- Takes the lease when nobody holds it; returns the new term, or 0.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local term = redis.call('INCR', KEYS[2])
  redis.call('HSET', KEYS[3], term, ARGV[3])
  redis.call('HSET', KEYS[4], term, ARGV[4])
  local forgotten = term - tonumber(ARGV[5])
  if forgotten > 0 then
    redis.call('HDEL', KEYS[3], forgotten)
    redis.call('HDEL', KEYS[4], forgotten)
  end
  return term
end
return 0
