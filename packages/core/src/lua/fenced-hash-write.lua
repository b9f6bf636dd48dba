-- KEYS[1] leader key, KEYS[2] hash; ARGV[1] token, ARGV[2] n, then n field/value pairs,
-- then fields to delete. Writes only while ARGV[1] holds the lease: a stale leader's writes
-- are refused (returns 0) and it learns it lost the lease.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
local n = tonumber(ARGV[2])
for i = 0, n - 1 do
  redis.call('HSET', KEYS[2], ARGV[3 + 2 * i], ARGV[4 + 2 * i])
end
for i = 3 + 2 * n, #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return 1
