import { defineInitTask } from '@drumline/core';

/**
 * Once per release, before any schedule fires and before the web reports ready. Put migrations,
 * seeding and model downloads here instead of in each replica's start-up.
 */
export const migrateDatabase = defineInitTask({
  name: 'migrate-database',
  async handler({ release, log, signal }) {
    // Replace with your migration tool, e.g. `await migrator.migrateToLatest()`; pass `signal` on.
    signal.throwIfAborted();
    await log(`applying pending migrations for release ${release}`);
    return { release, applied: 0 };
  },
});
