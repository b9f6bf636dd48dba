/** A wrong invocation found by the command itself (bad JSON, bad duration, no token), beyond what commander checks. */
export class UsageError extends Error {
  readonly code = 'DRUMLINE_CLI_USAGE';

  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
