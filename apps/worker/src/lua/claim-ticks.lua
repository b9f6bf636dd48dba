-- Claims a batch of scheduled runs in one call: the runs of a tick, held until it, ask together.
-- KEYS[1] schedules hash, KEYS[2] paused set, KEYS[3] last-runs hash; then two per run i (from 0):
--   KEYS[4 + 2i] its tick claim, KEYS[5 + 2i] its schedule's overlap lock.
-- ARGV[1] claim TTL in seconds, ARGV[2] overlap lock TTL in ms; then five per run i:
--   ARGV[3 + 5i] the job's creation time, ARGV[4 + 5i] schedule id, ARGV[5 + 5i] the run's `active`
--   last run (JSON), or '' to only check, ARGV[6 + 5i] '1' for a manual run, ARGV[7 + 5i] run id.
-- Runs are claimed in order, each as if alone; the answer is one reply per run, in the same order.
-- The first job created for a tick claims it; a later job with the same id (re-added after
-- retention removed the first) is a duplicate. Retries of the claiming job pass again.
-- With an `active` last run, a run that may start also takes the overlap lock (unless the schedule
-- allows overlap) and records itself as the schedule's active run: one round trip before the handler.
local function claim(tickClaim, lock, createdAt, scheduleId, active, manual, runId)
  local claimed = redis.call('GET', tickClaim)
  if claimed and claimed ~= createdAt then
    return { 'duplicate' }
  end
  if not claimed then
    redis.call('SET', tickClaim, createdAt, 'EX', ARGV[1])
  end
  local record = redis.call('HGET', KEYS[1], scheduleId)
  if not record then
    return { 'deleted' }
  end
  local paused = redis.call('SISMEMBER', KEYS[2], scheduleId)
  if active == '' or (paused == 1 and manual ~= '1') then
    return { 'ok', record, paused, 'checked' }
  end
  if cjson.decode(record).overlap ~= 'allow' then
    -- The lock may already be this run's own: a retry of it, or a run moved back to wait.
    if not redis.call('SET', lock, runId, 'PX', ARGV[2], 'NX') then
      if redis.call('GET', lock) ~= runId then
        return { 'ok', record, paused, 'locked' }
      end
      redis.call('PEXPIRE', lock, ARGV[2])
    end
  end
  redis.call('HSET', KEYS[3], scheduleId, active)
  return { 'ok', record, paused, 'entered' }
end

local replies = {}
for i = 0, (#KEYS - 3) / 2 - 1 do
  local a = 3 + 5 * i
  replies[i + 1] = claim(KEYS[4 + 2 * i], KEYS[5 + 2 * i], ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
return replies
