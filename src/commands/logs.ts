/** `pgapp logs <service> [-f] [--tail N]`. */
import { checkEngine, docker, logFrames } from '../docker/engine.ts';
import { commandConfig, containerOf, type GlobalOptions, serviceArg } from './common.ts';

export async function logs(
  opts: GlobalOptions & { service?: string; follow: boolean; tail?: number },
): Promise<void> {
  const config = commandConfig(opts);
  const service = serviceArg(opts.service);
  await checkEngine();
  const id = await containerOf(config.project, service);
  const c = docker().getContainer(id);
  if (!opts.follow) {
    // Without -f: every existing line asked for (not a follow stream cut after a while), each to
    // the stream the service wrote it to.
    const buf = (await c.logs({
      stdout: true,
      stderr: true,
      follow: false,
      tail: opts.tail ?? 200,
    })) as unknown as Buffer;
    const frames = logFrames(buf);
    const write = (to: NodeJS.WriteStream, stream: number) =>
      new Promise<void>((resolve) =>
        to.write(Buffer.concat(frames.filter((f) => f.stream === stream).map((f) => f.data)), () =>
          resolve(),
        ),
      );
    await Promise.all([write(process.stdout, 1), write(process.stderr, 2)]);
    return;
  }
  const stream = (await c.logs({
    stdout: true,
    stderr: true,
    follow: true,
    tail: opts.tail ?? 200,
  })) as unknown as NodeJS.ReadableStream;
  docker().modem.demuxStream(stream, process.stdout, process.stderr);
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    process.once('SIGINT', () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      resolve();
    });
  });
}
