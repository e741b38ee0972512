/** Errors a user can hit before anything starts: each a clear message with a hint and exit code 1. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, tempHome } from '../helpers.ts';

describe('CLI errors (no stack needed)', () => {
  it('Docker not running', async () => {
    const r = await cli(['dev', '--project', 'nodocker'], {
      home: tempHome(),
      env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ Docker is not running/);
    expect(r.stderr).toMatch(/hint: Start Docker/);
  });

  it.each([
    [['dev', '--project', 'Bad-Name'], /Invalid project name "Bad-Name"/, /lower-case letters/],
    [['dev', '--rds-port', '99999'], /Invalid rds port "99999"/, /1024 to 65535/],
    [['dev', '--seed', 'huge'], /Invalid seed size "huge"/, /small/],
    [['dev', '--frobnicate'], /Unknown option '--frobnicate'/, /pgapp --help/],
    [['launch'], /Unknown command "launch"/, /pgapp --help/],
    [['logs', 'nginx'], /Which service\? Got "nginx"/, /rds, custom, postgrest/],
    [['dev', '--postgres', '16'], /Invalid PostgreSQL version "16"/, /15 or 17/],
    [
      ['status', '--tail', '5'],
      /`status` does not take --tail \(its own options: --json, --show-secrets\)/,
      /pgapp --help/,
    ],
    [['compose', '--project', 'x'], /`compose` does not take --project/, /pgapp --help/],
  ])('%j', async (args, message, hint) => {
    const r = await cli(args, { home: tempHome() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(hint);
  });

  it('invalid JSON in pgapp.config.json', async () => {
    const home = tempHome();
    writeFileSync(join(home, 'pgapp.config.json'), '{"project": "x",');
    const r = await cli(['dev'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pgapp\.config\.json is not valid JSON/);
  });

  it('unreadable pgapp.config.json', async () => {
    const home = tempHome();
    // Tests run as root, who reads any file whatever its mode: a directory in its place cannot be read.
    mkdirSync(join(home, 'pgapp.config.json'));
    const r = await cli(['dev'], { home });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/✖ Cannot read .*pgapp\.config\.json: EISDIR/);
    expect(r.stderr).toMatch(/hint: Check the file permissions, or remove the file/);
  });

  it('reset without a terminal and without --yes', async () => {
    const r = await cli(['reset', '--project', 'nothing_here'], { home: tempHome() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/needs confirmation/);
    expect(r.stderr).toMatch(/--yes/);
  });

  it('token for a role of your own while custom is down: cannot vouch for it, says how', async () => {
    const home = tempHome();
    const project = 'stack_down';
    mkdirSync(join(home, '.pgapp', project), { recursive: true });
    const k = 'x'.repeat(43);
    const secrets = {
      rdsMasterPassword: k,
      customPassword: k,
      bridgePassword: k,
      authenticatorPassword: k,
      jwtSecret: k,
    };
    writeFileSync(join(home, '.pgapp', project, 'secrets.json'), JSON.stringify(secrets), { mode: 0o600 });
    const r = await cli(['token', '--project', project, '--role', 'reporting'], { home });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/✖ Cannot check role "reporting": custom is not running/);
    expect(r.stderr).toMatch(/hint: Start the stack/);
    const builtin = await cli(['token', '--project', project, '--role', 'web_anon'], { home });
    expect(builtin.code).toBe(0);
    expect(builtin.stdout).toMatch(/^eyJ/);
  });

  it('token before the project was ever started', async () => {
    const r = await cli(['token', '--project', 'never_started'], { home: tempHome() });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/has no secrets yet/);
  });
});
