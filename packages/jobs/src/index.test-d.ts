import { describe, expectTypeOf, it } from 'vitest';
import { jobs, type JobData, type JobName } from './index.js';

// Holds whatever jobs you add, rename or delete: it names none of them.
describe('the jobs list', () => {
  it('JobName is exactly the names in `jobs`', () => {
    expectTypeOf<JobName>().toEqualTypeOf<(typeof jobs)[number]['name']>();
  });

  it('JobData of every job is an object payload', () => {
    expectTypeOf<JobData<JobName>>().toBeObject();
  });
});
