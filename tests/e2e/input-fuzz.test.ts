import { codeScheduleRecords, createJobRegistry, drumlineKeys, INIT_QUEUE, MAX_JOB_ID_LENGTH, MAX_SCHEDULE_ID_LENGTH } from '@drumline/core/runtime';
import { jobs } from '@drumline/test-jobs';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { keyspaceChanges, scanKeys, snapshotKeyspace, type KeyspaceSnapshot } from '../support/keyspace.js';
import { freePort, startApp, stopApps, type AppProcess } from '../support/processes.js';
import { connectTestRedis, deleteKeys, TEST_REDIS_URL, uniquePrefix } from '../support/redis.js';

// Bad input as an attacker or a careless client sends it, against the built web as compose runs it
// (`node apps/web/dist/main.js`) on real Redis. Every write route gets bodies and path parameters
// drawn from generators of valid and invalid values. The invariants, for every request: no 5xx, an
// answer within HANG_MS, the process still up; and a 4xx leaves every key under the prefix as it was
// (a SCAN reading every key whole, before and after). Each group runs a few fixed examples, then
// generated cases. A fixed seed in CI; FUZZ_RUNS=<n> runs n cases per route group instead of 200,
// FUZZ_SEED=<n> another seed. The summary line printed at the end says how many cases ran.

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_202);
const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const HANG_MS = 10_000;
/** Past this many keys the runs the cases added are deleted, so snapshots stay cheap. */
const MAX_KEYS = 300;

const prefix = uniquePrefix('e2e-input-fuzz');
const API_TOKEN = `fuzz-${randomBytes(16).toString('hex')}`;
const DASHBOARD_USER = 'fuzz-admin';
const DASHBOARD_PASSWORD = 'fuzz-password-long-enough';
const bearer = { authorization: `Bearer ${API_TOKEN}` };
const basic = { authorization: `Basic ${Buffer.from(`${DASHBOARD_USER}:${DASHBOARD_PASSWORD}`).toString('base64')}` };
const json = { 'content-type': 'application/json' };

const redis = connectTestRedis();
const registry = createJobRegistry(jobs);
let web: AppProcess;
let baseUrl = '';
/** The keyspace as it stands after the last case, so a refused case costs one snapshot, not two. */
let current: KeyspaceSnapshot;

/** One HTTP request of a case; `body` is sent as it is, so it may be anything, JSON or not. */
interface Request {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const ran = { cases: 0, resets: 0, byStatus: new Map<number, number>() };

/** Sends one case and checks the invariants; returns the status. */
async function check(request: Request): Promise<number> {
  const response = await fetch(`${baseUrl}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
    signal: AbortSignal.timeout(HANG_MS),
  });
  const text = await response.text();
  const { status } = response;
  ran.cases++;
  ran.byStatus.set(status, (ran.byStatus.get(status) ?? 0) + 1);
  const what = `${request.method} ${request.path.slice(0, 300)} ${request.body?.slice(0, 300) ?? ''} → ${status} ${text.slice(0, 300)}`;
  expect(web.exitStatus, `the web exited after ${what}`).toBeUndefined();
  expect(status, what).toBeLessThan(500);
  const before = current;
  current = await snapshotKeyspace(redis, prefix);
  if (status < 400 && current.size > MAX_KEYS) current = await emptyQueues();
  if (status >= 400) {
    const changes = keyspaceChanges(before, current);
    expect(changes, `a refused request wrote to Redis (${changes.join(', ')}): ${what}`).toEqual([]);
  }
  return status;
}

/** Deletes every run the cases added (each queue's keys but its meta), keeping the schedules; returns the new snapshot. */
async function emptyQueues(): Promise<KeyspaceSnapshot> {
  for (const queue of [...registry.queueNames, INIT_QUEUE]) {
    const keys = (await scanKeys(redis, `${prefix}:${queue}:*`)).filter((key) => key !== `${prefix}:${queue}:meta`);
    if (keys.length > 0) await redis.unlink(...keys);
  }
  ran.resets++;
  return snapshotKeyspace(redis, prefix);
}

/** A path segment as a client would put it in a URL; a lone surrogate becomes the (invalid) UTF-8 bytes it would have. */
function segment(value: string): string {
  let out = '';
  for (const char of value) {
    const unit = char.charCodeAt(0);
    if (char.length === 1 && unit >= 0xd800 && unit <= 0xdfff) out += `%ED%${(0x80 | ((unit >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (unit & 0x3f)).toString(16).toUpperCase()}`;
    else out += encodeURIComponent(char);
  }
  return out;
}

// ---- generators of values -------------------------------------------------------------------

/** Mostly `valid`, sometimes `invalid`: most cases should get past validation, where the deeper bugs are. */
function mostly<T, U>(valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<U>): fc.Arbitrary<T | U> {
  return fc.oneof({ weight: 10, arbitrary: valid }, { weight: 1, arbitrary: invalid });
}

/** `value` one time in eleven, else undefined. */
function rarely<T>(value: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> {
  return mostly(fc.constant(undefined), value);
}


const alnum = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const idChar = fc.constantFrom(...`${alnum}._-`);
const loneSurrogates = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff');
const oddStrings = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.tuple(fc.string({ maxLength: 5 }), loneSurrogates, fc.string({ maxLength: 5 })).map((parts) => parts.join('')),
  fc.constantFrom('', ' ', '\n', '\u0000', '__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '..', '.', '%', '%00', '/', '?', '#', '\\', 'ａｂｃ', 'é', '\u{1F600}', '\u200b', '\ufeff'),
);

/** Ids of `max` characters at most, with the two ends (1 and `max`) drawn more often. */
function validIds(max: number) {
  return fc.oneof(
    fc.tuple(fc.constantFrom(...alnum), fc.string({ unit: idChar, maxLength: Math.min(max - 1, 40) })).map(([first, rest]) => first + rest),
    fc.tuple(fc.constantFrom(...alnum), fc.constantFrom(0, max - 1)).map(([first, length]) => first + 'b'.repeat(length)),
  );
}
/** Ids just past the limit and with every kind of wrong character. */
function invalidIds(max: number) {
  return fc.oneof(
    fc.constantFrom(`a${'b'.repeat(max)}`, 'x'.repeat(1024), 'x'.repeat(1025), '1', '42', '-lead', '.lead', 'a:b', 'a@1', 'a@1700000000000', 'a@1.manual', 'a b', 'a/b'),
    oddStrings,
    fc.tuple(validIds(max), loneSurrogates).map(([id, surrogate]) => id + surrogate),
  );
}
// A small pool, so requests meet each other's schedules, and the schedules declared in code (409).
const scheduleIdPool = fc.constantFrom('fuzz-a', 'fuzz-b', 'fuzz-c', ...codeScheduleRecords(registry).map((record) => record.id));
const scheduleIds = mostly(fc.oneof({ weight: 2, arbitrary: scheduleIdPool }, { weight: 1, arbitrary: validIds(MAX_SCHEDULE_ID_LENGTH) }), invalidIds(MAX_SCHEDULE_ID_LENGTH));
const jobIds = mostly(fc.oneof(fc.constantFrom('fuzz-1', 'fuzz-2'), validIds(MAX_JOB_ID_LENGTH)), invalidIds(MAX_JOB_ID_LENGTH));
const numbers = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, 0.5, 1.5, 999, 1000, 2 ** 21 - 1, 2 ** 21, 2 ** 31, 2 ** 53 - 1, 2 ** 53, 1e21, 1e308, -1e308, Number.MIN_VALUE, Number.EPSILON),
);
/** A JSON number as text: also ones JSON.stringify never writes (1e400 parses to Infinity, -0, 1E2). */
const numberText = fc.oneof(
  numbers.map((n) => JSON.stringify(n)),
  fc.constantFrom('1e400', '-1e400', '-0', '1E2', '0.0000001', '123456789012345678901234567890', '1.0', '2097151.0000000001'),
);
const strings = fc.oneof(fc.string({ maxLength: 30 }), oddStrings, fc.constantFrom('x'.repeat(201), 'x'.repeat(100_001)));
const jsonValues = fc.jsonValue({ maxDepth: 4 });
const anyValue = fc.oneof(jsonValues, strings, numbers, fc.constant(null), fc.boolean());

/** JSON text holding `inner` nested `depth` levels of arrays or objects deep. */
function nested(depth: number, inner: string, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}${inner}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
}
const depths = fc.constantFrom(1, 10, 60, 61, 62, 63, 64, 65, 100, 1000, 10_000, 100_000);
const kinds = fc.constantFrom('array' as const, 'object' as const);

/**
 * A body as text: mostly `valid` in JSON with values swapped for generated ones, sometimes with a
 * deeply nested or prototype-poisoning field spliced in, sometimes not JSON at all.
 */
function bodies(valid: fc.Arbitrary<Record<string, unknown>>) {
  const asJson = valid.map((body) => JSON.stringify(body));
  return fc.oneof(
    { weight: 24, arbitrary: asJson },
    // The nesting sits in a field the schema strips or ignores, where only the depth limit catches it.
    { weight: 2, arbitrary: fc.tuple(asJson, depths, kinds).map(([body, depth, kind]) => spliceField(body, 'nested', nested(depth, '1', kind))) },
    { weight: 1, arbitrary: fc.tuple(asJson, depths, kinds).map(([body, depth, kind]) => nested(depth, body, kind)) },
    {
      weight: 1,
      arbitrary: fc.tuple(asJson, fc.constantFrom('__proto__', 'constructor', 'prototype'), jsonValues).map(([body, key, value]) => spliceField(body, key, JSON.stringify({ polluted: value }))),
    },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '"x"', '1', '{"data":', '{"data":{}}}', '\u0000', '{"data":{}} trailing', '{"a":1,"a":2}') },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  );
}

/** `body` (a JSON object's text) with `"key": value` added at the start, or `body` itself if it is no object. */
function spliceField(body: string, key: string, value: string): string {
  return body.startsWith('{') ? `{"${key}":${value}${body === '{}' ? '' : ','}${body.slice(1)}` : body;
}

// ---- generators of requests -----------------------------------------------------------------

const definedJobs = fc.constantFrom(...registry.jobs.map((job) => job.name));
const jobNames = mostly(definedJobs, fc.oneof(fc.constantFrom('no-such-job', 'PING', 'ping ', '__proto__'), oddStrings));

const emails = mostly(fc.constantFrom('a@example.com', 'team@example.org', 'x+y@sub.example.co'), strings);
const shortText = (max: number) => mostly(fc.string({ maxLength: Math.min(max, 50) }), strings);
/** A payload each job takes, to mutate; the extra keys land in fields the schemas strip. */
const validPayloads: Record<string, fc.Arbitrary<Record<string, unknown>>> = {
  ping: fc.record({ sleepMs: fc.constant(0), note: shortText(200), failWith: shortText(200) }, { requiredKeys: [] }),
  'send-email': fc.record({ to: emails, subject: shortText(200), body: shortText(100_000), replyTo: emails }, { requiredKeys: ['to', 'subject', 'body'] }),
  'cleanup-old-records': fc.record({ table: mostly(fc.constantFrom('sessions', 'password_resets', 'audit_log'), anyValue), olderThanDays: mostly(fc.integer({ min: 1, max: 3650 }), numbers), batchSize: mostly(fc.integer({ min: 1, max: 10_000 }), numbers) }, { requiredKeys: ['table', 'olderThanDays'] }),
  'expire-coupons': fc.record({ graceHours: mostly(fc.integer({ min: 0, max: 72 }), numbers) }, { requiredKeys: [] }),
  'daily-report': fc.record({ recipients: mostly(fc.array(emails, { minLength: 1, maxLength: 3 }), anyValue), format: mostly(fc.constantFrom('html', 'csv'), anyValue) }, { requiredKeys: ['recipients'] }),
};
const extraFields = fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), oddStrings), anyValue, { maxKeys: 2 });
function payloadsFor(job: string): fc.Arbitrary<unknown> {
  const valid = validPayloads[job] ?? fc.constant({});
  return mostly(fc.tuple(valid, rarely(extraFields)).map(([payload, extra]) => ({ ...extra, ...payload })), anyValue);
}

const validJobIds = fc.tuple(fc.constantFrom(...alnum), fc.string({ unit: idChar, maxLength: 40 })).map(([first, rest]) => first + rest);
const enqueueOptions = fc.record(
  {
    jobId: mostly(fc.oneof(fc.constantFrom('fuzz-1', 'fuzz-2'), validJobIds), fc.oneof(jobIds, anyValue)),
    delay: mostly(fc.integer({ min: 0, max: 10 ** 9 }), fc.oneof(numbers, anyValue)),
    priority: mostly(fc.integer({ min: 0, max: 2 ** 21 - 1 }), fc.oneof(numbers, fc.constantFrom(2 ** 21, -1), anyValue)),
  },
  { requiredKeys: [] },
);
const options = mostly(enqueueOptions, fc.oneof(anyValue, fc.record({ dealy: anyValue })));
function enqueueBodyFor(job: string) {
  return fc.record({ data: payloadsFor(job), opts: options }, { requiredKeys: ['data'] });
}
/** A job name and a body that mostly fits it. */
const namedEnqueueBodies = fc.tuple(jobNames, definedJobs).chain(([name, shapeOf]) => fc.tuple(fc.constant(name), enqueueBodyFor(registry.find(name) ? name : shapeOf)));

const itemCounts = fc.constantFrom(0, 1, 2, 3, 10, 999, 1000, 1001);
function bulkBodyFor(job: string) {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ items: fc.array(enqueueBodyFor(job), { minLength: 1, maxLength: 5 }) }) },
    {
      weight: 1,
      // At and past the item limit: all valid pings, or all but the last, so most of them are refused.
      arbitrary: fc.tuple(itemCounts, fc.boolean(), rarely(jobIds)).map(([count, spoilLast, jobId]) => ({
        items: Array.from({ length: count }, (_, i) => (spoilLast && i === count - 1 ? { data: { sleepMs: -1 } } : { data: { note: `n${i}` }, ...(jobId && i === 0 ? { opts: { jobId } } : {}) })),
      })),
    },
    { weight: 1, arbitrary: fc.record({ items: anyValue }) },
  );
}
const namedBulkBodies = fc.tuple(jobNames, definedJobs).chain(([name, shapeOf]) => fc.tuple(fc.constant(name), bulkBodyFor(registry.find(name) ? name : shapeOf)));

const validCrons = fc.constantFrom('* * * * *', '0 2 * * *', '*/15 * * * * *', '30 9 * * 1-5', '0 0 1 1 *', '0 0 29 2 *', '59 23 31 12 *', '0 0 * * 7');
const crons = fc.oneof(
  { weight: 10, arbitrary: validCrons },
  fc.constantFrom('61 * * * *', '0 24 * * *', '0 0 30 2 *', '0 0 31 4 *', '0 0 29 2 1', '*/0 * * * *', '1-0 * * * *', '0 0 L * *', '0 0 * * 5L', '0 0 * * 1#6', '0 0 1W * *'),
  fc.constantFrom('@yearly', '@hourly', '@reboot', '@every 5m', '0 3 * *', '* * * * * * *', '', ' ', '\t* * * * *', '* * * * *\n', 'a b c d e', '0 0 ? * *'),
  fc.array(fc.oneof(fc.constantFrom('*', '*/2', '0', '59', '60', '1-5', '5-1', 'L', '?', 'MON', 'JAN-DEC', ','), fc.string({ maxLength: 4 })), { minLength: 4, maxLength: 7 }).map((fields) => fields.join(' ')),
  strings,
);
const zones = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom('UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/Los_Angeles', 'Australia/Lord_Howe', 'Asia/Kathmandu') },
  fc.constantFrom('UTC', 'Europe/Berlin', 'Asia/Shanghai', 'America/Los_Angeles', 'Etc/GMT+14', 'Etc/GMT-14', 'etc/utc', 'EST5EDT', 'Mars/Olympus', '+05:30', 'Z', 'GMT', 'Europe/Kyiv', 'Europe/Kiev', ''),
  strings,
);
const everys = fc.oneof(
  { weight: 8, arbitrary: fc.oneof(fc.integer({ min: 1000, max: 10 ** 10 }), fc.constantFrom('30s', '5m', '2h', '1d', '1w', '1000')) },
  fc.constantFrom(1000, 999, 0, -1, 1.5, 60_000, 2 ** 31, '30s', '0s', '-5m', '1y', '1.5h', '1000', '999', 'Infinity', 'soon', '', ' 30s '),
  // Far beyond any date: the next tick of these is past what a Date can hold.
  { weight: 2, arbitrary: fc.constantFrom(8.64e15, 2 ** 53 - 1, 1e15, '100000y', '285616y') },
  numbers,
  strings,
);
const ats = fc.oneof(
  { weight: 8, arbitrary: fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString()) },
  fc.constantFrom('+275760-09-13T00:00:00.000Z', '-271821-04-20T00:00:00.000Z', '+275760-09-13T00:00:00.001Z', '9999-12-31T23:59:59.999Z'),
  fc.constantFrom('2026-12-01T09:00:00Z', '2099-01-01T00:00:00Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59Z', '2026-02-30T00:00:00Z', 'yesterday', '', '0', '2026-12-01', '2026-12-01T09:00:00+14:00'),
  fc.date({ noInvalidDate: true }).map((date) => date.toISOString()),
  strings,
);
const policies = fc.record(
  {
    misfire: mostly(fc.constantFrom('skip', 'once', 'all'), fc.oneof(fc.constant('never'), anyValue)),
    misfireCap: mostly(fc.constantFrom(1, 100, 10_000), fc.oneof(fc.constantFrom(10_001, 0), numbers)),
    misfireGraceMs: mostly(fc.constantFrom(0, 1000, 86_400_000), numbers),
    overlap: mostly(fc.constantFrom('allow', 'skip', 'queue'), fc.oneof(fc.constant('never'), anyValue)),
  },
  { requiredKeys: [] },
);
// Mostly one timing, so most bodies get as far as the timing checks; sometimes none, several, or odd types.
const timings = fc.oneof(
  { weight: 3, arbitrary: fc.record({ cron: crons, tz: zones }, { requiredKeys: ['cron'] }) },
  { weight: 3, arbitrary: fc.record({ every: everys }) },
  { weight: 3, arbitrary: fc.record({ at: ats }) },
  { weight: 1, arbitrary: fc.record({ cron: anyValue, tz: anyValue, every: anyValue, at: anyValue }, { requiredKeys: [] }) },
);
const scheduleBody = fc
  .tuple(mostly(fc.constantFrom('ping', 'expire-coupons'), fc.oneof(jobNames, anyValue)), timings, policies, rarely(extraFields))
  .chain(([job, timing, policy, extra]) =>
    fc.option(typeof job === 'string' && registry.find(job) ? payloadsFor(job) : anyValue, { nil: undefined }).map((data) => ({
      ...extra,
      job,
      ...timing,
      ...policy,
      ...(data === undefined ? {} : { data }),
    })),
  );

/** Headers a client might send: the right credentials mostly, sometimes another spelling or none. */
function credentials(right: Record<string, string>) {
  return fc.oneof(
    { weight: 16, arbitrary: fc.constant(right) },
    {
      weight: 1,
      arbitrary: fc
        .constantFrom('', `bearer ${API_TOKEN}`, `BEARER ${API_TOKEN}`, `Bearer ${API_TOKEN.toUpperCase()}`, `Bearer  ${API_TOKEN}`, `Bearer${API_TOKEN}`, `Token ${API_TOKEN}`, 'Bearer ', 'Basic Og==', basic.authorization, bearer.authorization)
        .map((authorization) => (authorization ? { authorization } : ({} as Record<string, string>))),
    },
  );
}
const contentTypes: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 16, arbitrary: fc.constant(json) },
  { weight: 1, arbitrary: fc.constantFrom<Record<string, string>>({}, { 'content-type': 'text/plain' }, { 'content-type': 'application/json; charset=utf-16' }, { 'content-type': 'application/x-www-form-urlencoded' }) },
);

function withBody(method: Request['method'], path: string, auth: Record<string, string>, body: string, type: Record<string, string>): Request {
  return { method, path, headers: { ...auth, ...type }, body };
}

/** Bodies whose numbers JSON.stringify would never write, such as 1e400 (Infinity once parsed). */
const enqueueNumberTexts = fc.tuple(fc.constantFrom('delay', 'priority'), numberText).map(([key, number]) => `{"data":{},"opts":{"${key}":${number}}}`);
const scheduleNumberTexts = fc.tuple(fc.constantFrom('every', 'misfireCap', 'misfireGraceMs'), numberText).map(([key, number]) => `{"job":"ping",${key === 'every' ? '' : '"every":"1h",'}"${key}":${number}}`);

const enqueueRequests = namedEnqueueBodies
  .chain(([name, body]) => fc.tuple(fc.constant(name), mostly(bodies(fc.constant(body)), enqueueNumberTexts), credentials(bearer), contentTypes))
  .map(([name, body, auth, type]) => withBody('POST', `/api/jobs/${segment(name)}`, auth, body, type));
const bulkRequests = namedBulkBodies
  .chain(([name, body]) => fc.tuple(fc.constant(name), bodies(fc.constant(body)), credentials(bearer), contentTypes))
  .map(([name, body, auth, type]) => withBody('POST', `/api/jobs/${segment(name)}/bulk`, auth, body, type));
const putScheduleRequests = fc
  .tuple(scheduleIds, mostly(bodies(scheduleBody), scheduleNumberTexts), credentials(bearer), contentTypes)
  .map(([id, body, auth, type]) => withBody('PUT', `/api/schedules/${segment(id)}`, auth, body, type));
// Backfill ranges: mostly a recent past hour, sometimes backwards, in the future, or odd text.
const instants = mostly(fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2026-06-01T00:00:00Z') }).map((ms) => new Date(ms).toISOString()), ats);
const backfillBody = fc.oneof(
  { weight: 4, arbitrary: instants.chain((from) => fc.record({ from: fc.constant(from), to: mostly(fc.integer({ min: 0, max: 3_600_000 }).map((span) => new Date(Date.parse(from) + span).toISOString()), ats) })) },
  { weight: 1, arbitrary: fc.record({ from: anyValue, to: anyValue, extra: anyValue }, { requiredKeys: [] }) },
);
const scheduleActionRequests = fc
  .tuple(scheduleIds, fc.constantFrom('DELETE', 'pause', 'resume', 'trigger', 'backfill'), credentials(bearer))
  .chain(([id, action, auth]) => fc.tuple(fc.constant(id), fc.constant(action), fc.constant(auth), action === 'backfill' ? bodies(backfillBody) : rarely(bodies(fc.constant({})))))
  .map(
    ([id, action, auth, body]): Request => ({
      method: action === 'DELETE' ? 'DELETE' : 'POST',
      path: `/api/schedules/${segment(id)}${action === 'DELETE' ? '' : `/${action}`}`,
      headers: { ...auth, ...(body === undefined ? {} : json) },
      ...(body === undefined ? {} : { body }),
    }),
  );
// Runs the cases made: given ids, BullMQ's numbers, and the ids of ticks and manual runs.
const runIds = mostly(fc.constantFrom('fuzz-1', 'fuzz-2', '1', '2', '3', '10', 'cleanup-sessions@1700000000000', `fuzz-a@${Date.parse('2026-03-01T00:00:00Z')}`), invalidIds(MAX_JOB_ID_LENGTH));
const runControlRequests = fc
  .tuple(jobNames, runIds, fc.constantFrom('cancel', 'retry', 'DELETE'), credentials(bearer), rarely(bodies(fc.constant({}))))
  .map(
    ([name, id, action, auth, body]): Request => ({
      method: action === 'DELETE' ? 'DELETE' : 'POST',
      path: `/api/jobs/${segment(name)}/runs/${segment(id)}${action === 'DELETE' ? '' : `/${action}`}`,
      headers: { ...auth, ...(body === undefined ? {} : json) },
      ...(body === undefined ? {} : { body }),
    }),
  );
const pageActionRequests = fc
  .tuple(scheduleIds, fc.constantFrom('pause', 'resume', 'trigger'), credentials(basic), fc.boolean())
  .map(([id, action, auth, fromPage]): Request => ({ method: 'POST', path: `/admin/schedules/${segment(id)}/${action}`, headers: { ...auth, ...(fromPage ? { 'x-drumline-page': 'schedules' } : {}) } }));

const boardQueues = mostly(fc.constantFrom(...registry.queueNames, INIT_QUEUE), fc.oneof(fc.constantFrom('no-such-queue', '__proto__'), oddStrings));
const boardOptions = fc.record(
  {
    jobId: fc.oneof(jobIds, anyValue),
    priority: fc.oneof(numbers, anyValue),
    delay: fc.oneof(numbers, anyValue),
    attempts: fc.oneof(numbers, anyValue),
    backoff: fc.oneof(fc.record({ type: fc.constantFrom('fixed', 'exponential', 'weird'), delay: numbers }), anyValue),
    lifo: anyValue,
    removeOnComplete: fc.oneof(fc.record({ age: numbers, count: numbers }, { requiredKeys: [] }), anyValue),
    removeOnFail: anyValue,
    repeat: fc.record({ pattern: crons }),
    parent: fc.record({ id: strings, queue: strings }),
    sizeLimit: numbers,
  },
  { requiredKeys: [] },
);
/** Bull Board's add-job body for `name`, mostly as its form sends it. */
function boardAddBodyFor(name: unknown) {
  return fc.tuple(fc.boolean()).chain(([withOptions]) =>
    fc.record(
      { name: fc.constant(name), data: typeof name === 'string' && registry.find(name) ? payloadsFor(name) : anyValue, options: withOptions ? mostly(enqueueOptions, fc.oneof(boardOptions, anyValue)) : fc.constant({}) },
      { requiredKeys: ['name', 'data'] },
    ),
  );
}
const boardAddRequests = fc
  .tuple(mostly(definedJobs, fc.oneof(jobNames, fc.constant('__default__'), anyValue)), boardQueues)
  .chain(([name, otherQueue]) => {
    const queue = typeof name === 'string' ? registry.find(name)?.queue : undefined;
    return fc.tuple(queue ? mostly(fc.constant(queue), fc.constant(otherQueue)) : fc.constant(otherQueue), bodies(boardAddBodyFor(name)), credentials(basic), contentTypes);
  })
  .map(([queue, body, auth, type]) => withBody('POST', `/admin/queues/api/queues/${segment(queue)}/add`, auth, body, type));

const boardJobIds = mostly(fc.constantFrom('fuzz-1', 'fuzz-2', '1', '2', '3'), fc.oneof(jobIds, fc.constant('9999999')));
const queueStatuses = mostly(fc.constantFrom('failed', 'completed', 'delayed', 'waiting', 'active', 'paused', 'prioritized'), strings);
/** Bull Board's other write routes, each with a body of the shape it reads, mostly. */
const bodilessBoardWrites = [
  '/api/queues/pause',
  '/api/queues/resume',
  '/api/queues/:queue/promote',
  '/api/queues/:queue/pause',
  '/api/queues/:queue/resume',
  '/api/queues/:queue/rate-limit/release',
  '/api/queues/:queue/empty',
  '/api/queues/:queue/retry/:status',
  '/api/queues/:queue/clean/:status',
  '/api/queues/:queue/:job/retry',
  '/api/queues/:queue/:job/clean',
  '/api/queues/:queue/:job/promote',
  '/api/queues/:queue/:job/remove-unprocessed-children',
].map((route) => ({ method: 'PUT' as const, route }));
// A run's new time: after any real now, so the valid ones are valid whenever the suite runs.
const later = fc.integer({ min: Date.parse('2100-01-01T00:00:00Z'), max: Date.parse('2100-01-01T00:00:00Z') + 10 ** 9 });
/** Bull Board's other write routes, each with a body of the shape it reads, mostly. */
const boardWrites: fc.Arbitrary<{ method: Request['method']; route: string; body?: fc.Arbitrary<Record<string, unknown>> }> = fc.oneof(
  fc.constantFrom(...bodilessBoardWrites),
  fc.constantFrom(
    { method: 'PUT' as const, route: '/api/queues/:queue/concurrency', body: fc.record({ concurrency: mostly(fc.integer({ min: 0, max: 100 }), anyValue) }) },
    { method: 'PUT' as const, route: '/api/queues/:queue/rate-limit', body: fc.record({ max: mostly(fc.integer({ min: 1, max: 100 }), anyValue), duration: mostly(fc.integer({ min: 1, max: 60_000 }), anyValue) }) },
    { method: 'PATCH' as const, route: '/api/queues/:queue/:job/update-data', body: fc.record({ jobData: anyValue }) },
    { method: 'PATCH' as const, route: '/api/queues/:queue/:job/delay', body: fc.record({ runAt: mostly(later, numbers) }) },
    { method: 'PATCH' as const, route: '/api/queues/:queue/:job/priority', body: fc.record({ priority: mostly(fc.integer({ min: 0, max: 2 ** 21 - 1 }), numbers) }) },
  ),
);
const boardWriteRequests = fc
  .tuple(boardWrites, boardQueues, boardJobIds, queueStatuses, credentials(basic))
  .chain(([write, queue, job, status, auth]) =>
    fc.tuple(fc.constant(write), fc.constant(`/admin/queues${write.route.replace(':queue', segment(queue)).replace(':job', segment(job)).replace(':status', segment(status))}`), fc.constant(auth), write.body ? bodies(write.body) : fc.constant(undefined)),
  )
  .map(([write, path, auth, body]): Request => ({ method: write.method, path, headers: { ...auth, ...(body === undefined ? {} : json) }, ...(body === undefined ? {} : { body }) }));

// ---- the suite ------------------------------------------------------------------------------

beforeAll(async () => {
  // The code-declared schedules, as the leading scheduler's reconciliation writes them, so PUT and DELETE meet code-owned ones (409).
  const keys = drumlineKeys(prefix);
  for (const record of codeScheduleRecords(registry)) await redis.hset(keys.schedules, record.id, JSON.stringify(record));
  const port = await freePort();
  baseUrl = `http://127.0.0.1:${port}`;
  web = startApp('web', {
    env: { REDIS_URL: TEST_REDIS_URL, KEY_PREFIX: prefix, LOG_LEVEL: 'error', PORT: String(port), HOST: '127.0.0.1', API_TOKEN, DASHBOARD_USER, DASHBOARD_PASSWORD },
  });
  await web.waitForHttp(`${baseUrl}/healthz`, 30_000);
  // Each BullMQ Queue writes its meta hash once its connection is ready, which may come after the
  // web answers: wait for all of them, so the keyspace holds still from here on.
  const metas = [...registry.queueNames, INIT_QUEUE].map((queue) => `${prefix}:${queue}:meta`);
  await vi.waitFor(async () => expect(await redis.exists(...metas)).toBe(metas.length), { timeout: 10_000, interval: 50 });
  current = await snapshotKeyspace(redis, prefix);
});

afterAll(async () => {
  const statuses = [...ran.byStatus].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
  console.log(`input fuzz: ${ran.cases} cases (seed ${SEED}, ${RUNS} per group): ${statuses}; queues emptied ${ran.resets}×`);
  await stopApps([web]);
  await deleteKeys(redis, prefix);
  await redis.quit();
});

/** fast-check's params: the seed, the runs, and `examples`, cases that run every time before the generated ones. */
const params = (runs: number, examples: Request[] = []) => ({ seed: SEED, numRuns: runs, endOnFailure: true, examples: examples.map((example): [Request] => [example]) });

/** A JSON request with the API token, for the examples. */
function api(method: Request['method'], path: string, body?: string, headers: Record<string, string> = bearer): Request {
  return { method, path, headers: { ...headers, ...(body === undefined ? {} : json) }, ...(body === undefined ? {} : { body }) };
}
const longestScheduleId = `L${'o'.repeat(MAX_SCHEDULE_ID_LENGTH - 1)}`;
const deepIn = (field: string, depth: number) => `{"data":{"${field}":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
const pings = (count: number) => JSON.stringify({ items: Array.from({ length: count }, (_, i) => ({ data: { note: `n${i}` } })) });
const put = (id: string, body: string) => api('PUT', `/api/schedules/${id}`, body);

describe('the web under generated input: no 5xx, no hang, no crash, and a refused request writes nothing', () => {
  it('the keyspace is stable while no request comes, so any change below is a request’s', async () => {
    expect(keyspaceChanges(current, await snapshotKeyspace(redis, prefix))).toEqual([]);
  });

  it('POST /api/jobs/:name', async () => {
    const examples = [
      api('POST', '/api/jobs/ping', deepIn('stripped', 100_000)),
      // {"data":{"stripped":[...]}} nests two levels more than its arrays: 64 in all, the limit, then 65.
      api('POST', '/api/jobs/ping', deepIn('stripped', 62)),
      api('POST', '/api/jobs/ping', deepIn('stripped', 63)),
      api('POST', '/api/jobs/ping', '{"data":{},"opts":{"jobId":"order-\\ud800"}}'),
      api('POST', '/api/jobs/ping', `{"data":{},"opts":{"jobId":"a${'b'.repeat(MAX_JOB_ID_LENGTH - 1)}"}}`),
      api('POST', '/api/jobs/ping', `{"data":{},"opts":{"jobId":"a${'b'.repeat(MAX_JOB_ID_LENGTH)}"}}`),
      api('POST', '/api/jobs/ping', '{"data":{},"opts":{"priority":2097152}}'),
      api('POST', '/api/jobs/ping', '{"data":{},"opts":{"delay":1e400}}'),
      api('POST', '/api/jobs/ping', '{"data":{"__proto__":{"sleepMs":1}}}'),
      api('POST', '/api/jobs/ping', '{"data":{}}', { authorization: `bearer ${API_TOKEN}` }),
    ];
    await fc.assert(fc.asyncProperty(enqueueRequests, async (request) => void (await check(request))), params(RUNS, examples));
  });

  it('POST /api/jobs/:name/bulk', async () => {
    const examples = [api('POST', '/api/jobs/ping/bulk', pings(1000)), api('POST', '/api/jobs/ping/bulk', pings(1001)), api('POST', '/api/jobs/ping/bulk', '{"items":[]}')];
    await fc.assert(fc.asyncProperty(bulkRequests, async (request) => void (await check(request))), params(RUNS, examples));
  });

  it('PUT /api/schedules/:id', async () => {
    const examples = [
      put('fuzz-a', `{"job":"ping","every":${2 ** 53 - 1}}`),
      put('fuzz-a', '{"job":"ping","every":"285616y"}'),
      put('fuzz-a', '{"job":"ping","every":1e400}'),
      put('fuzz-a', '{"job":"ping","at":"+275760-09-13T00:00:00.000Z"}'),
      put(longestScheduleId, '{"job":"ping","every":"1h"}'),
      put(`${longestScheduleId}x`, '{"job":"ping","every":"1h"}'),
      put('cleanup-sessions', '{"job":"ping","every":"1h"}'),
      put('fuzz-b', `{"job":"ping","every":"1h","data":${deepIn('x', 5000).slice(8, -1)}}`),
    ];
    await fc.assert(fc.asyncProperty(putScheduleRequests, async (request) => void (await check(request))), params(2 * RUNS, examples));
  });

  it('DELETE /api/schedules/:id and POST /api/schedules/:id/pause, /resume, /trigger, /backfill', async () => {
    const examples = [
      api('DELETE', '/api/schedules/never-was'),
      api('POST', `/api/schedules/${longestScheduleId}/trigger`),
      api('POST', `/api/schedules/${longestScheduleId}/pause`),
      api('DELETE', '/api/schedules/cleanup-sessions'),
      api('POST', `/api/schedules/${'x'.repeat(1025)}/pause`),
    ];
    await fc.assert(fc.asyncProperty(scheduleActionRequests, async (request) => void (await check(request))), params(RUNS, examples));
  });

  it('POST /api/jobs/:name/runs/:id/cancel, /retry and DELETE /api/jobs/:name/runs/:id', async () => {
    await fc.assert(fc.asyncProperty(runControlRequests, async (request) => void (await check(request))), params(RUNS));
  });

  it("the schedules page's pause, resume and run-now", async () => {
    await fc.assert(fc.asyncProperty(pageActionRequests, async (request) => void (await check(request))), params(RUNS / 2));
  });

  it("Bull Board's add job", async () => {
    const add = (body: string) => api('POST', '/admin/queues/api/queues/default/add', body, basic);
    const examples = [add('{"name":"ping","data":{},"options":{"jobId":"a:b"}}'), add('{"name":"ping","data":{},"options":{"priority":2097152}}'), add('{"name":"ping","data":{},"options":{"repeat":{"pattern":"x"}}}')];
    await fc.assert(fc.asyncProperty(boardAddRequests, async (request) => void (await check(request))), params(RUNS, examples));
  });

  it("Bull Board's other write routes: retry, promote, clean, pause, rate limits, a run's data, delay and priority", async () => {
    await fc.assert(fc.asyncProperty(boardWriteRequests, async (request) => void (await check(request))), params(RUNS));
  });

  it('the web is still up, and logged no error', async () => {
    expect(web.exitStatus).toBeUndefined();
    expect(web.logs().filter((log) => (log.level ?? 0) >= 50)).toEqual([]);
  });
});
