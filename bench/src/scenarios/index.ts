import type { Scenario } from '../support/scenario.js';
import { bulkEnqueue } from './bulk-enqueue.js';
import { clusterHttpEnqueue, clusterWorkerThroughput } from './cluster.js';
import { failover } from './failover.js';
import { flowFairness, flowThroughput } from './flow-control.js';
import { idleMemory } from './idle-memory.js';
import { httpEnqueue } from './http-enqueue.js';
import { scheduleListing } from './schedule-listing.js';
import { sentinelFailover } from './sentinel-failover.js';
import { scheduleScale } from './schedule-scale.js';
import { schedulePrecision } from './schedule-precision.js';
import { workerThroughput } from './worker-throughput.js';

/** In the order they run and are reported. */
export const scenarios: Scenario[] = [workerThroughput, flowThroughput, flowFairness, httpEnqueue, bulkEnqueue, schedulePrecision, failover, sentinelFailover, scheduleScale, scheduleListing, idleMemory, clusterWorkerThroughput, clusterHttpEnqueue];
