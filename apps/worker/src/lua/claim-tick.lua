-- KEYS[1] tick claim, KEYS[2] schedules hash, KEYS[3] paused set, KEYS[4] last-runs hash,
-- KEYS[5] the schedule's overlap lock;
-- ARGV[1] the job's creation time, ARGV[2] claim TTL in seconds, ARGV[3] schedule id,
-- ARGV[4] the run's `active` last run (JSON), or '' to only check, ARGV[5] '1' for a manual run,
-- ARGV[6] run id, ARGV[7] overlap lock TTL in ms.
-- The first job created for a tick claims it; a later job with the same id (re-added after
-- retention removed the first) is a duplicate. Retries of the claiming job pass again.
-- With ARGV[4], a run that may start also takes the overlap lock (unless the schedule allows
-- overlap) and records itself as the schedule's active run: one round trip before the handler.
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
local paused = redis.call('SISMEMBER', KEYS[3], ARGV[3])
if ARGV[4] == '' or (paused == 1 and ARGV[5] ~= '1') then
  return { 'ok', record, paused, 'checked' }
end
if cjson.decode(record).overlap ~= 'allow' then
  -- The lock may already be this run's own: a retry of it, or a run moved back to wait.
  if not redis.call('SET', KEYS[5], ARGV[6], 'PX', ARGV[7], 'NX') then
    if redis.call('GET', KEYS[5]) ~= ARGV[6] then
      return { 'ok', record, paused, 'locked' }
    end
    redis.call('PEXPIRE', KEYS[5], ARGV[7])
  end
end
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return { 'ok', record, paused, 'entered' }
