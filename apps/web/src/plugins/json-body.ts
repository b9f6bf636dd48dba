import type { FastifyBodyParser, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { BodyTooDeepError } from '../errors/body-too-deep-error.js';
import { UnpairedSurrogateError } from '../errors/unpaired-surrogate-error.js';
import type { ErrorBody } from './error-handler.js';

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

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Where `value` holds a string or a key with a lone surrogate, as a dotted path, or undefined. It
 * recurses, which is safe on a value that passed the depth check.
 */
export function loneSurrogateAt(value: unknown, path = ''): string | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, item] of Object.entries(value)) {
    const at = path ? `${path}.${key}` : key;
    if (LONE_SURROGATE.test(key)) return at;
    const found = loneSurrogateAt(item, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * Fastify's own JSON parser (secure-json-parse: `__proto__` refused with 400, as Fastify does by
 * default), behind a depth check. Serializing a deeply nested value overflows the stack (BullMQ
 * stringifies every payload, even a field the job's schema strips), so such a body is refused with
 * 400 before it is parsed, for every route of the app, Bull Board's included: register it first.
 * A string with a lone surrogate is refused too: JSON can spell one (`"\ud800"`), JavaScript keeps
 * it, but Redis's Lua JSON cannot decode the record it ends up in, so a schedule holding one made
 * every later write to it (and the worker's claims of its ticks) fail. As a request body is UTF-8,
 * which cannot carry a lone surrogate, only a `\u` escape can make one: other bodies are not walked.
 */
export const jsonBody = fp<JsonBodyOptions>(
  async (app, { maxDepth }) => {
    const parse = app.getDefaultJsonParser('error', 'ignore');
    // Bull Board answers the errors of its scope in a shape of its own, so the parser does not
    // throw its refusals: it leaves them here, and the hook below answers them in ours, in every scope.
    const refusals = new WeakMap<FastifyRequest, BodyTooDeepError | UnpairedSurrogateError>();
    const parseChecked: FastifyBodyParser<string> = (request, body, done) => {
      const refuse = (error: BodyTooDeepError | UnpairedSurrogateError) => {
        refusals.set(request, error);
        done(null, undefined);
      };
      if (nestsDeeperThan(body, maxDepth)) return refuse(new BodyTooDeepError(maxDepth));
      if (!body.includes('\\u')) return parse(request, body, done);
      parse(request, body, (error, value) => {
        const at = error ? undefined : loneSurrogateAt(value);
        if (at === undefined) return done(error, value);
        refuse(new UnpairedSurrogateError(at));
      });
    };
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, parseChecked);
    app.addHook('preValidation', (request, reply, next) => {
      const refusal = refusals.get(request);
      if (!refusal) return next();
      const body: ErrorBody = { error: refusal.code, message: refusal.message, ...('issues' in refusal ? { issues: refusal.issues } : {}) };
      reply.code(400).send(body);
    });
  },
  { name: 'drumline-json-body', fastify: '5.x' },
);
