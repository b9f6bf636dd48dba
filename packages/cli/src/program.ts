import { ApiError, InvalidRequestError, type DrumlineClientError } from '@drumline/client';
import { Command, CommanderError, Option } from 'commander';
import { registerPlanCommand } from './commands/plan.js';
import { registerRunCommands } from './commands/runs.js';
import { registerScheduleCommands } from './commands/schedules.js';
import { ExitCode, exitCodeOf, type ExitCodeValue } from './exit-codes.js';
import { json } from './output.js';
import { DEFAULT_URL, Session, type CliContext, type GlobalOptions } from './session.js';

export type { CliContext } from './session.js';
export { ExitCode } from './exit-codes.js';

const EXIT_CODES_HELP = `
Exit codes:
  ${ExitCode.ok}  done
  ${ExitCode.usage}  usage error (unknown command or option, bad value), or anything unexpected
  ${ExitCode.notFound}  no such job, run or schedule
  ${ExitCode.refused}  refused by the API: invalid payload or range (400), or the run's or schedule's state (409)
  ${ExitCode.unauthorized}  the API refused the token
  ${ExitCode.unreachable}  the API is unreachable, did not answer in time, or failed (5xx)
  ${ExitCode.planHasChanges}  plan --exit-code: the deploy would change schedules
  ${ExitCode.runFailed}  run --wait: the run failed
  ${ExitCode.runUnfinished}  run --wait: the run had not finished at the deadline`;

/** Every command takes these, before or after its arguments. */
function withGlobalOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <url>', `the web's address (env DRUMLINE_URL, default ${DEFAULT_URL})`))
    .addOption(new Option('--token <token>', "the web's API_TOKEN (env DRUMLINE_TOKEN)"))
    .option('--json', 'print JSON for scripts instead of tables')
    .option('--timeout <duration>', 'per request (default 10s)');
}

function buildProgram(context: CliContext, sessions: Session[]): Command {
  const program = withGlobalOptions(new Command('drumline'))
    .description('Enqueue, inspect and control Drumline runs and schedules over its HTTP API.')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (text) => context.io.stdout(text), writeErr: (text) => context.io.stderr(text) });
  const open = (command: Command) => {
    const session = new Session(context, command.optsWithGlobals<GlobalOptions>());
    sessions.push(session);
    return session;
  };
  // Subcommands inherit exitOverride and the output streams from `program` when made with .command().
  registerRunCommands(program, open, withGlobalOptions);
  registerScheduleCommands(program, open, withGlobalOptions);
  registerPlanCommand(program, open, withGlobalOptions);
  return program;
}

function report(error: unknown, context: CliContext, asJson: boolean): void {
  const known = error instanceof Error;
  if (asJson) {
    const body: Record<string, unknown> = { error: known && 'code' in error ? (error as DrumlineClientError).code : 'DRUMLINE_CLI_ERROR', message: known ? error.message : String(error) };
    if (error instanceof ApiError) Object.assign(body, { status: error.status, apiCode: error.apiCode });
    if (error instanceof InvalidRequestError) body.issues = error.issues;
    context.io.stderr(json(body));
    return;
  }
  // An API error's message names each field at fault already.
  context.io.stderr(`drumline: ${known ? error.message : String(error)}\n`);
}

/** Runs `drumline <argv>` and resolves with its exit code; output goes to `context.io`. */
export async function run(argv: readonly string[], context: CliContext): Promise<ExitCodeValue> {
  const sessions: Session[] = [];
  const program = buildProgram(context, sessions);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return sessions.at(-1)?.exitCode ?? ExitCode.ok;
  } catch (error) {
    // Commander has printed its own message (or the help) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    report(error, context, argv.includes('--json'));
    return exitCodeOf(error);
  }
}
