-- KEYS[1] leader key; ARGV[1] token, ARGV[2] ttl ms. Returns 1 while we still hold the lease.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
