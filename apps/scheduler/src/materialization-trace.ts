import { failSpan, runSpanAttributes, SpanAttributes, traceContextOptions } from '@drumline/core/runtime';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import type { JobsOptions, Queue } from 'bullmq';

/** What the trace needs of a run a pass adds; its `opts` are given the run's trace context. */
export interface TracedAdd {
  queue: Queue;
  name: string;
  scheduleId: string;
  tick: number;
  opts: JobsOptions & { jobId: string };
}

/**
 * The spans of one materialization pass that adds runs: a `materialization pass` span for the
 * pass (its leader term, how many runs it added), and for each run a `materialize <job>` producer
 * span that starts the run's own trace, links to the pass, and is the parent of the run's attempts
 * (each run carries it, see traceContextOptions).
 *
 * A link, not a parent, between a run and its pass: a pass adds every schedule's ticks of the next
 * lookahead window at once (thousands, on a leader's first pass), and the run's attempts come up to
 * SCHEDULER_LOOKAHEAD_MS later, then their retries. As children of the pass they would make one
 * trace of every run of every schedule in that window, which a trace view cannot show; one trace
 * per run keeps its attempts (and what their handlers call) together, and the link still leads
 * from any run to the leader and pass that added it.
 */
export class MaterializationTrace {
  private constructor(
    private readonly pass: Span,
    private readonly runs: Span[],
  ) {}

  /** Starts the spans and sets each add's trace context; call it just before the runs are added. */
  static start(tracer: Tracer, term: number | undefined, adds: TracedAdd[]): MaterializationTrace {
    const leader = term === undefined ? {} : { [SpanAttributes.leaderTerm]: term };
    const pass = tracer.startSpan('materialization pass', { root: true, attributes: { ...leader, [SpanAttributes.messagingBatchCount]: adds.length } }, ROOT_CONTEXT);
    const links = [{ context: pass.spanContext() }];
    const runs = adds.map((add) => {
      const span = tracer.startSpan(
        `materialize ${add.name}`,
        {
          root: true,
          kind: SpanKind.PRODUCER,
          links,
          attributes: {
            ...leader,
            ...runSpanAttributes('send', add.queue.name, add.name, add.opts.jobId),
            [SpanAttributes.scheduleId]: add.scheduleId,
            [SpanAttributes.tick]: add.tick,
          },
        },
        ROOT_CONTEXT,
      );
      add.opts = { ...add.opts, ...traceContextOptions(trace.setSpan(ROOT_CONTEXT, span)) };
      return span;
    });
    return new MaterializationTrace(pass, runs);
  }

  /** Ends the run spans, once their runs were added (or failed to be). */
  added(error?: unknown): void {
    for (const span of this.runs) {
      if (error !== undefined) failSpan(span, error);
      span.end();
    }
    if (error !== undefined) failSpan(this.pass, error);
  }

  /** Ends the pass span; `lostLease`: the cursors' fenced write was refused, another scheduler leads now. */
  end(lostLease = false): void {
    if (lostLease) this.pass.setStatus({ code: SpanStatusCode.ERROR, message: 'lost the lease during the pass' });
    this.pass.end();
  }
}
