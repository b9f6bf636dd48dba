export { freePort } from './free-port.js';
export { RedisNode, ReplicatedRedis, SENTINEL_MASTER_NAME, type ReplicatedRedisOptions } from './replicated-redis.js';
