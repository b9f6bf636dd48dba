import { defineJob } from '@drumline/core';
import { z } from 'zod';

/** On demand: the web enqueues one per email, so a slow mail provider never blocks a request. */
export const sendEmail = defineJob({
  name: 'send-email',
  queue: 'email',
  schema: z.object({
    to: z.email(),
    subject: z.string().min(1).max(200),
    body: z.string().max(100_000),
    replyTo: z.email().optional(),
  }),
  attempts: 5,
  backoff: { type: 'exponential', delayMs: 2000 },
  timeoutMs: 30_000,
  async handler(email, { logger, signal }) {
    // Swap this for your provider's SDK; pass `signal` so a timeout or shutdown cancels the call.
    signal.throwIfAborted();
    const messageId = `${Date.now().toString(36)}.${Math.random().toString(36).slice(2)}@drumline.local`;
    logger.info({ to: email.to, messageId }, 'email handed to the provider');
    return { messageId };
  },
});
