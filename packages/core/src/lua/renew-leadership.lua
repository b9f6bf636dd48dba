-- KEYS[1] leader key, KEYS[2] leader seen hash; ARGV[1] token, ARGV[2] ttl ms, ARGV[3] term,
-- ARGV[4] now (ms). Renews the leader's lease and notes when its term was last seen alive.
-- Returns 1 while we still hold the lease.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
  return 1
end
return 0
