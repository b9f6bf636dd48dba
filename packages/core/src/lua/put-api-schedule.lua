-- KEYS[1] schedules hash, KEYS[2] changed set (the materializer's), KEYS[3] optional: the changed
-- set of the dead-man's switch; ARGV[1] id, ARGV[2] record JSON (owner api),
-- or '' to delete. Refuses to touch a code-owned schedule: returns 'code'; else 'created',
-- 'replaced', 'deleted' or 'missing'. Only a write flags the id as changed: a refusal writes nothing.
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and cjson.decode(existing).owner == 'code' then
  return 'code'
end
if ARGV[2] == '' then
  if not existing then return 'missing' end
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SADD', KEYS[2], ARGV[1])
  if KEYS[3] then redis.call('SADD', KEYS[3], ARGV[1]) end
  return 'deleted'
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
if KEYS[3] then redis.call('SADD', KEYS[3], ARGV[1]) end
if existing then return 'replaced' end
return 'created'
