-- Claims a batch of scheduled runs in one call: the runs of a tick, held until it, ask together.
-- KEYS[1] schedules hash, KEYS[2] paused set, KEYS[3] last-runs hash; then k per run i (from 0):
--   KEYS[4 + ki] its tick claim, KEYS[5 + ki] its schedule's overlap lock, and with k = 3,
--   KEYS[6 + ki] its BullMQ job hash.
-- ARGV[1] claim TTL in seconds, ARGV[2] overlap lock TTL in ms, ARGV[3] k: 3, or 2 on Redis Cluster,
-- where a run's job hash lies in its queue's slot and the caller marks it apart (mark-run-started.lua);
-- then six per run i:
--   ARGV[4 + 6i] the job's creation time, ARGV[5 + 6i] schedule id, ARGV[6 + 6i] the run's `active`
--   last run (JSON), or '' to only check, ARGV[7 + 6i] '1' for a manual run, ARGV[8 + 6i] run id,
--   ARGV[9 + 6i] when this attempt starts (ms).
-- Runs are claimed in order, each as if alone; the answer is one reply per run, in the same order.
-- The first job created for a tick claims it; a later job with the same id (re-added after
-- retention removed the first) is a duplicate. Retries of the claiming job pass again.
-- With an `active` last run, a run that may start also takes the overlap lock (unless the schedule
-- allows overlap) and records itself as the schedule's active run: one round trip before the handler.
-- A run that enters has its job's processedOn set to this attempt's start: BullMQ set it when the
-- worker took the job, which for a run held until its tick is before the tick. The job also keeps
-- its first attempt's start (a field BullMQ does not read), and the last run reports that one, so
-- that a retry, or a run back from a shutdown or a stall, does not make the schedule look late.
local FIRST_START = 'drumline:firstStartedOn'

local function claim(tickClaim, lock, jobKey, createdAt, scheduleId, active, manual, runId, startedAt)
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
  local firstStart = startedAt
  if jobKey and redis.call('EXISTS', jobKey) == 1 then
    redis.call('HSET', jobKey, 'processedOn', startedAt)
    if redis.call('HSETNX', jobKey, FIRST_START, startedAt) == 0 then
      firstStart = redis.call('HGET', jobKey, FIRST_START)
      local entry = cjson.decode(active)
      entry.startedAt = tonumber(firstStart)
      active = cjson.encode(entry)
    end
  end
  redis.call('HSET', KEYS[3], scheduleId, active)
  return { 'ok', record, paused, 'entered', tonumber(firstStart) }
end

local per = tonumber(ARGV[3])
local replies = {}
for i = 0, (#ARGV - 3) / 6 - 1 do
  local a = 4 + 6 * i
  local k = 4 + per * i
  local jobKey = nil
  if per == 3 then jobKey = KEYS[k + 2] end
  replies[i + 1] = claim(KEYS[k], KEYS[k + 1], jobKey, ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5])
end
return replies
