-- A worker's report of a scheduled run: the schedule's last run, and the event in its tick's ledger,
-- in one round trip. KEYS[1] last-runs hash, KEYS[2] the schedule's ledger; ARGV[1] schedule id,
-- ARGV[2] last run JSON, ARGV[3] tick, ARGV[4] event encoded, ARGV[5] now (ms), ARGV[6] max ticks,
-- ARGV[7] max age (ms).
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
ledger_append(KEYS[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7])
return 1
