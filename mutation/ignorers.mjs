// Stryker ignorer plugins (see stryker.config.mjs): mutants that no test should kill, each with
// the reason Stryker's report shows next to it.
import { explained } from '../stryker.config.mjs';

const LOG_LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

/** `logger.warn(...)`, `this.options.logger.info(...)`, `request.log.error(...)`: a pino call. */
function isLogCall(node) {
  if (node.type !== 'CallExpression' || node.callee.type !== 'MemberExpression') return false;
  const { object, property } = node.callee;
  if (property.type !== 'Identifier' || !LOG_LEVELS.has(property.name)) return false;
  const owner = object.type === 'Identifier' ? object.name : object.type === 'MemberExpression' && object.property.type === 'Identifier' ? object.property.name : '';
  return /logger$/i.test(owner) || owner === 'log';
}

const logging = {
  shouldIgnore(path) {
    if (isLogCall(path.node)) return 'Logging only: what a log line says or carries changes nothing a caller or user relies on';
    return undefined;
  },
};

const explainedMutants = {
  shouldIgnore(path) {
    const { start, end } = path.node;
    if (start == null || end == null) return undefined;
    const file = path.hub?.file?.opts?.filename ?? '';
    const code = path.hub?.file?.code;
    if (typeof code !== 'string') return undefined;
    const source = code.slice(start, end);
    const line = code.slice(code.lastIndexOf('\n', start) + 1, code.indexOf('\n', start) === -1 ? undefined : code.indexOf('\n', start));
    const hit = explained.find(
      (entry) =>
        file.endsWith(entry.file) &&
        (typeof entry.code === 'string' ? entry.code === source : entry.code.test(source)) &&
        (entry.line === undefined || (typeof entry.line === 'string' ? line.includes(entry.line) : entry.line.test(line))),
    );
    return hit?.reason;
  },
};

export const strykerPlugins = [
  { kind: 'Ignore', name: 'logging', value: logging },
  { kind: 'Ignore', name: 'explained', value: explainedMutants },
];
