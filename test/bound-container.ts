import { GenericContainer } from 'testcontainers';

/**
 * testcontainers publishes ports on every interface; pgapp's bind one address (127.0.0.1, or the
 * Docker bridge's gateway for a server the stack's containers must reach as "remote").
 */
export class BoundContainer extends GenericContainer {
  constructor(
    image: string,
    private readonly hostIp: string,
  ) {
    super(image);
  }
  protected override async beforeContainerCreated(): Promise<void> {
    for (const bindings of Object.values(this.hostConfig.PortBindings ?? {}))
      for (const b of bindings as { HostIp?: string }[]) b.HostIp = this.hostIp;
  }
}
