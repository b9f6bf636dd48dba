/** Base class of every error the client throws; `code` is stable across releases. */
export abstract class DrumlineClientError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
