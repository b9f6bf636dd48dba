export { DrumlineError } from './drumline-error.js';
export { ConfigError } from './config-error.js';
export { JobDefinitionError } from './job-definition-error.js';
export { UnknownJobError } from './unknown-job-error.js';
export { InvalidPayloadError, type PayloadIssue } from './invalid-payload-error.js';
export { JobTimeoutError } from './job-timeout-error.js';
export { InvalidIdError } from './invalid-id-error.js';
export { InvalidTimingError, type TimingField } from './invalid-timing-error.js';
export { InvalidFlowKeyError } from './invalid-flow-key-error.js';
