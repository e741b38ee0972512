/**
 * The interactive path of `dev`: real @inquirer/prompts driven through streams (as a terminal would
 * type), validation messages shown, answers saved so the next run asks nothing.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { devConfig } from '../../src/commands/common.ts';
import { confirmPrompt, promptConfig } from '../../src/config/prompts.ts';
import { InterruptedError } from '../../src/errors.ts';

/** Like a terminal, it stays open when one prompt ends (inquirer pipes into it, and pipe() ends its target). */
class Screen extends Writable {
  constructor(private onText: (s: string) => void) {
    super();
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.onText(chunk.toString());
    cb();
  }
  override end(): this {
    return this;
  }
}

class Terminal {
  input = new PassThrough();
  screen = '';
  output = new Screen((s) => {
    this.screen += s;
  });
  /** Wait until the screen shows `re`, then type `keys`. */
  async answer(re: RegExp, keys: string) {
    const deadline = Date.now() + 5000;
    while (!re.test(this.screen)) {
      if (Date.now() > deadline) throw new Error(`prompt ${re} never appeared; screen:\n${this.screen}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    this.screen = '';
    this.input.write(keys);
  }
}

describe('dev prompts', () => {
  let home: string;
  const saved = { ...process.env };
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'pgapp-prompts-'));
    process.env.PGAPP_HOME = home;
    process.env.DOCKER_HOST = 'unix:///nonexistent.sock'; // no stack: every port of ours is "free"
    for (const k of Object.keys(process.env))
      if (k.startsWith('PGAPP_') && k !== 'PGAPP_HOME') delete process.env[k];
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it('asks what is unset, validates, offers the next free port, and saves the answers', async () => {
    // Occupy the default rds port so the prompt must offer another.
    const blocker = createServer().listen(5433, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r).once('error', r));
    const free = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => free.once('listening', r));
    const customPort = (free.address() as { port: number }).port;
    await new Promise((r) => free.close(r));
    const t = new Terminal();
    const pending = devConfig(
      { flags: { ports: { postgrest: 3900 } }, yes: false },
      { input: t.input, output: t.output },
    );
    try {
      await t.answer(/Project name/, 'Bad Name\r');
      await t.answer(/Invalid project name "Bad Name"/, '\x15my_app\r'); // Ctrl-U clears the line
      // A project without data is asked its PostgreSQL version: 17 (RDS's default) first, then 15.
      await t.answer(/PostgreSQL version .*17 — RDS's default/s, '\x1b[B\r'); // arrow down: 15
      // The default offered is a free one: 5433 is taken.
      await t.answer(/rds \(the RDS stand-in\) host port \(5433 is taken\)/, '\r');
      await t.answer(/custom Postgres host port/, '80\r');
      await t.answer(/1024 to 65535/, `\x15${customPort}\r`);
      await t.answer(/Seed size/, '\x1b[B\r'); // arrow down: medium
      await t.answer(/sample pg_cron jobs/, 'n\r');
      await t.answer(/Where does the API read/, '\x1b[B\r'); // arrow down: fdw
      const config = await pending;
      expect(config.project).toBe('my_app');
      expect(config.postgres).toBe(15);
      expect(config.ports.rds).not.toBe(5433);
      expect(config.ports).toMatchObject({ custom: customPort, postgrest: 3900 });
      expect(config.seed).toBe('medium');
      expect(config.cronJobs).toBe(false);
      expect(config.reads).toBe('fdw');
      const file = JSON.parse(readFileSync(join(home, 'pgapp.config.json'), 'utf8'));
      expect(file).toEqual({
        project: 'my_app',
        postgres: 15,
        ports: { rds: config.ports.rds, custom: customPort },
        seed: 'medium',
        cronJobs: false,
        reads: 'fdw',
      });
    } finally {
      blocker.close();
    }

    // Next run: nothing left to ask.
    const t2 = new Terminal();
    const again = await devConfig(
      { flags: { ports: { postgrest: 3900 } }, yes: false },
      { input: t2.input, output: t2.output },
    );
    expect(t2.screen).toBe('');
    expect(again.project).toBe('my_app');
  });

  it('with --rds-url and no "schemas", asks which of that database\'s schemas to mirror (all checked)', async () => {
    const t = new Terminal();
    const unset = {
      project: false,
      postgres: false,
      seed: false,
      cronJobs: false,
      reads: false,
      schemas: true,
      ports: new Set<string>(),
    };
    const pending = promptConfig(
      unset,
      {},
      { input: t.input, output: t.output },
      new Set(),
      async () => undefined,
      async () => [
        { name: 'billing', tables: 3 },
        { name: 'public', tables: 12 },
        { name: 'staging', tables: 40 },
      ],
    );
    await t.answer(/Which schemas of that database does pgapp mirror/, '\x1b[B\x1b[B \r'); // down twice, untick staging
    expect((await pending).schemas).toEqual(['billing', 'public']);
    // One schema with tables: nothing to ask.
    const t2 = new Terminal();
    const one = await promptConfig(
      unset,
      {},
      { input: t2.input, output: t2.output },
      new Set(),
      async () => undefined,
      async () => [{ name: 'public', tables: 12 }],
    );
    expect(one.schemas).toBeUndefined();
    expect(t2.screen).toBe('');
  });

  it('Ctrl-C at a question stops the command as an interruption, not as a bug', async () => {
    const t = new Terminal();
    const asked = confirmPrompt('Copy desk.events (~1,000,000 rows, 1.2 GB) to the replica?', {
      input: t.input,
      output: t.output,
    });
    await t.answer(/Copy desk\.events/, '\x03');
    await expect(asked).rejects.toBeInstanceOf(InterruptedError);
  });
});
