/** Base class of every error Drumline throws on purpose; `code` is stable across releases. */
export abstract class DrumlineError extends Error {
  abstract readonly code: string;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}
