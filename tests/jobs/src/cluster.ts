// The jobs of the tests and the bench on Redis Cluster (JOBS_MODULE=tests/jobs/dist/cluster.js):
// `ping` on three queues, which a three-shard cluster holds on three primaries (see sharded-pings.ts).
import { migrateDatabase } from './init-tasks.js';
import { ping } from './ping.js';
import { pingReports, pingTenants } from './sharded-pings.js';

export const jobs = [ping, pingReports, pingTenants] as const;

export const initTasks = [migrateDatabase] as const;
