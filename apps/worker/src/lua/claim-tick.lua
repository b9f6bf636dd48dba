-- KEYS[1] tick claim, KEYS[2] schedules hash, KEYS[3] paused set;
-- ARGV[1] the job's creation time, ARGV[2] claim TTL in seconds, ARGV[3] schedule id.
-- The first job created for a tick claims it; a later job with the same id (re-added after
-- retention removed the first) is a duplicate. Retries of the claiming job pass again.
local claimed = redis.call('GET', KEYS[1])
if claimed and claimed ~= ARGV[1] then
  return { 'duplicate' }
end
if not claimed then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
local record = redis.call('HGET', KEYS[2], ARGV[3])
if not record then
  return { 'deleted' }
end
return { 'ok', record, redis.call('SISMEMBER', KEYS[3], ARGV[3]) }
