/**
 * The most a scheduler moves a tick's runs to `wait` ahead of the tick (SCHEDULER_PROMOTE_AHEAD_MS),
 * so that workers have already picked them up when it comes and only have to start their handlers.
 * A worker holds a run that arrives early until its tick; one that arrives more than twice this
 * early (clocks far apart) goes back to delayed instead of holding a worker slot.
 */
export const MAX_PROMOTE_AHEAD_MS = 1000;
