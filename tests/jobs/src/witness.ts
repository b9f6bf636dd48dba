import { defineJob } from '@drumline/core';
import { z } from 'zod';

/**
 * Says in its worker's log that its handler ran (`witnessed`: the run id). Tests of Redis failovers
 * count runs from the workers' logs, which no failover can take back, unlike anything in Redis.
 */
export const witness = defineJob({
  name: 'witness',
  schema: z.object({}),
  handler(_data, { jobId, logger }) {
    logger.info({ witnessed: jobId }, 'witnessed');
    return { pid: process.pid };
  },
});
