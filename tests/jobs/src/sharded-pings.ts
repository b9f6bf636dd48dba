import { defineJob } from '@drumline/core';
import { ping } from './ping.js';

// `ping` on two more queues, for the tests and the bench on Redis Cluster. Each queue's keys carry
// its name as their hash tag, and these names hash into the three slot ranges that
// `redis-cli --cluster create` gives three primaries (0-5460, 5461-10922, 10923-16383):
// `reports` to slot 5152, `default` (ping's own) to 5718, `tenants` to 10927. So a three-shard
// cluster holds each of the three queues on a primary of its own.

/** `ping` on queue `reports`. */
export const pingReports = defineJob({ name: 'ping-reports', queue: 'reports', schema: ping.schema, attempts: 3, backoff: { type: 'fixed', delayMs: 500 }, handler: ping.handler });

/** `ping` on queue `tenants`. */
export const pingTenants = defineJob({ name: 'ping-tenants', queue: 'tenants', schema: ping.schema, attempts: 3, backoff: { type: 'fixed', delayMs: 500 }, handler: ping.handler });
