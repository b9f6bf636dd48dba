import type { FastifyBodyParser } from 'fastify';
import fp from 'fastify-plugin';
import { BodyTooDeepError } from '../errors/body-too-deep-error.js';

export interface JsonBodyOptions {
  /** Levels of objects and arrays a body may nest, the body itself being the first. */
  maxDepth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether `json` opens more than `maxDepth` objects and arrays at once, read without parsing it:
 * one pass, no recursion, strings skipped with indexOf. Malformed text may be misread, and is then
 * refused by the parse that follows.
 */
export function nestsDeeperThan(json: string, maxDepth: number): boolean {
  // Each level takes a character, so a short body cannot be too deep: most bodies end here.
  if (json.length <= maxDepth) return false;
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const char = json.charCodeAt(i);
    if (char === QUOTE) {
      // Skip to the quote that ends the string: the next one after an even run of backslashes.
      for (;;) {
        i = json.indexOf('"', i + 1);
        if (i === -1) return false;
        let backslashes = 0;
        while (json.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/**
 * Fastify's own JSON parser (secure-json-parse: `__proto__` refused with 400, as Fastify does by
 * default), behind a depth check. Serializing a deeply nested value overflows the stack (BullMQ
 * stringifies every payload, even a field the job's schema strips), so such a body is refused with
 * 400 before it is parsed, for every route of the app, Bull Board's included: register it first.
 */
export const jsonBody = fp<JsonBodyOptions>(
  async (app, { maxDepth }) => {
    const parse = app.getDefaultJsonParser('error', 'ignore');
    const parseChecked: FastifyBodyParser<string> = (request, body, done) => {
      if (nestsDeeperThan(body, maxDepth)) return done(new BodyTooDeepError(maxDepth), undefined);
      return parse(request, body, done);
    };
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, parseChecked);
  },
  { name: 'drumline-json-body', fastify: '5.x' },
);
