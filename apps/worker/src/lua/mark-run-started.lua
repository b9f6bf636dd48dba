-- On Redis Cluster, what claim-ticks.lua does to the job hash of a run that entered, in the job's
-- own slot (its queue's), after the claim: the attempt starts now (processedOn, which BullMQ set
-- when the worker took the job, for a run held until its tick before the tick), and the job keeps
-- its first attempt's start (the field claim-ticks.lua names too). A job removed meanwhile is left
-- alone, not made again. Calling it twice changes nothing the first call did not.
-- KEYS[1] the job hash; ARGV[1] when this attempt starts (ms).
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'processedOn', ARGV[1])
  redis.call('HSETNX', KEYS[1], 'drumline:firstStartedOn', ARGV[1])
end
return 0
