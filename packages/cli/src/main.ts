#!/usr/bin/env node
// The `drumline` command: the process's environment and streams go in, an exit code comes out.
import { run } from './program.js';

// `drumline runs ping | head` closes stdout early: that is the reader's choice, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

const code = await run(process.argv.slice(2), {
  io: { stdout: (text) => process.stdout.write(text), stderr: (text) => process.stderr.write(text) },
  env: { DRUMLINE_URL: process.env.DRUMLINE_URL, DRUMLINE_TOKEN: process.env.DRUMLINE_TOKEN },
  cwd: process.cwd(),
  now: () => Date.now(),
});
process.exitCode = code;
