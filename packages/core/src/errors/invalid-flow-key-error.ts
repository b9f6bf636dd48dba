import { DrumlineError } from './drumline-error.js';

/** A job's flow-control key function threw or gave no usable key for a payload: nothing was enqueued. */
export class InvalidFlowKeyError extends DrumlineError {
  readonly code = 'DRUMLINE_INVALID_FLOW_KEY';

  constructor(
    readonly jobName: string,
    /** Which declaration's key: `concurrency`, `rateLimit`, `dedupe` or `debounce`. */
    readonly control: string,
    reason: string,
    /** Where in a bulk body, for example `items.3.data`. */
    readonly path = 'data',
  ) {
    super(`job \`${jobName}\`: ${control}.key of ${path} ${reason}`);
    this.issues = [{ path, message: `${control}.key ${reason}` }];
  }

  /** The payload at fault, in the same shape as a schema's issues. */
  readonly issues: readonly { path: string; message: string }[];
}
