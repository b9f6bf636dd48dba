-- KEYS[1] leader key, KEYS[2] term counter; ARGV[1] token, ARGV[2] ttl ms.
-- Takes the lease when nobody holds it; returns the new term, or 0.
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
