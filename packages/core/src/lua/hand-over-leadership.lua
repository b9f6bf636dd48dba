-- KEYS[1] leader key, KEYS[2] leader seen hash; ARGV[1] token, ARGV[2] term, ARGV[3] now (ms).
-- Lets the lease go while we hold it, noting the term's end, so a standby takes over at once.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  return redis.call('DEL', KEYS[1])
end
return 0
