// What a job file needs. The apps' shared internals are `@drumline/core/runtime`.
export { defineJob, DEFAULT_QUEUE } from './define-job.js';
export type { BackoffPolicy, DefinedSchedule, JobContext, JobDefinition, JobDefinitionInput, RetentionPolicy } from './define-job.js';
export type { JobDataOf, JobNameOf, JobRegistry } from './job-registry.js';
export type { MisfirePolicy, OverlapPolicy, ScheduleDeclaration, SchedulePolicies, ScheduleTiming } from './schedule-spec.js';
export { defineInitTask } from './define-init-task.js';
export type { InitTaskContext, InitTaskDefinition, InitTaskInput } from './define-init-task.js';
export { DrumlineError } from './errors/drumline-error.js';
export { JobDefinitionError } from './errors/job-definition-error.js';
export { InvalidPayloadError, type PayloadIssue } from './errors/invalid-payload-error.js';
export { JobTimeoutError } from './errors/job-timeout-error.js';
export { InvalidFlowKeyError } from './errors/invalid-flow-key-error.js';
export type { ConcurrencyDeclaration, DebounceDeclaration, DedupeDeclaration, FlowDeclarations, FlowKeyOf, RateLimitDeclaration } from './flow-policy.js';
