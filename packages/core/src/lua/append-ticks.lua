-- Appends events to tick ledgers, several in one call (the leader's per pass).
-- KEYS[i] the ledger of event i; ARGV[1] now (ms), ARGV[2] max ticks, ARGV[3] max age (ms),
-- then per event i (from 1) ARGV[2 + 2i] its tick, ARGV[3 + 2i] the event encoded.
for i = 1, #KEYS do
  ledger_append(KEYS[i], ARGV[2 + 2 * i], ARGV[3 + 2 * i], ARGV[1], ARGV[2], ARGV[3])
end
return #KEYS
