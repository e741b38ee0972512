import Docker from 'dockerode';
import { errorMessage, PgappError } from '../errors.ts';

let client: Docker | undefined;

/**
 * What the container, volume and network decisions (docker/containers.ts) need of an engine: the
 * Docker client, passed in, or a fake of it in their unit tests (as testcontainers passes its
 * ContainerRuntimeClient).
 */
export type DockerClient = Pick<
  Docker,
  | 'listContainers'
  | 'createContainer'
  | 'getContainer'
  | 'listVolumes'
  | 'createVolume'
  | 'getVolume'
  | 'listNetworks'
  | 'createNetwork'
  | 'getNetwork'
>;

/** The Docker client (DOCKER_HOST or the local socket, as dockerode decides). */
export function docker(): Docker {
  client ??= new Docker();
  return client;
}

export async function checkEngine(): Promise<{ version: string }> {
  try {
    await docker().ping();
    const v = await docker().version();
    return { version: v.Version };
  } catch (err) {
    throw new PgappError(
      `Docker is not running (cannot reach the engine: ${errorMessage(err)})`,
      'Start Docker (Docker Desktop, `sudo systemctl start docker`, or `sudo dockerd &`) and run the command again. ' +
        'On a fresh Debian machine, `sudo bash .ci/provision` installs and starts one.',
    );
  }
}

/** The frames of a multiplexed (non-TTY) Docker log buffer: which stream (1 stdout, 2 stderr) and bytes. */
export function logFrames(buf: Buffer): { stream: number; data: Buffer }[] {
  const frames: { stream: number; data: Buffer }[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    frames.push({ stream: buf[i] ?? 1, data: buf.subarray(i + 8, i + 8 + size) });
    i += 8 + size;
  }
  return frames;
}

/** Read a multiplexed (non-TTY) Docker log buffer into text. */
export function demuxLogs(buf: Buffer): string {
  return logFrames(buf)
    .map((f) => f.data.toString('utf8'))
    .join('');
}

/** The last lines a container logged (stdout and stderr), for error messages. */
export async function lastLogLines(containerId: string, lines = 20): Promise<string> {
  try {
    const buf = (await docker()
      .getContainer(containerId)
      .logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(buf).trimEnd();
  } catch (err) {
    return `(no logs: ${errorMessage(err)})`;
  }
}

/** Run a command in a running container (no TTY); its exit code and output. */
export async function execIn(
  containerId: string,
  cmd: string[],
  opts: { user?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const exec = await docker()
    .getContainer(containerId)
    .exec({
      Cmd: cmd,
      User: opts.user,
      AttachStdout: true,
      AttachStderr: true,
      ...(opts.env ? { Env: Object.entries(opts.env).map(([k, v]) => `${k}=${v}`) } : {}),
    });
  const stream = await exec.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const frames = logFrames(Buffer.concat(chunks));
  const text = (n: number) =>
    frames
      .filter((f) => f.stream === n)
      .map((f) => f.data.toString('utf8'))
      .join('');
  const { ExitCode } = await exec.inspect();
  return { code: ExitCode ?? 1, stdout: text(1), stderr: text(2) };
}
