// grpc.health.v1.Health: SERVING once the service is ready, NOT_SERVING while it starts or drains.
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { healthV1 } from "@clearmesh/contracts";

const { HealthCheckResponse_ServingStatus: ServingStatus } = healthV1;
type ServingStatus = healthV1.HealthCheckResponse_ServingStatus;

export class HealthState {
  private status: ServingStatus = ServingStatus.NOT_SERVING;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly serviceNames: readonly string[]) {}

  set(serving: boolean): void {
    const next = serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    if (next === this.status) return;
    this.status = next;
    for (const listener of this.listeners) listener();
  }

  get serving(): boolean {
    return this.status === ServingStatus.SERVING;
  }

  /** "" is the whole server; a registered service name answers the same; anything else is unknown. */
  statusOf(service: string): ServingStatus | undefined {
    if (service === "" || this.serviceNames.includes(service)) return this.status;
    return undefined;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

export function healthImpl(state: HealthState): ServiceImpl<typeof healthV1.Health> {
  return {
    check(request) {
      const status = state.statusOf(request.service);
      if (status === undefined) throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      return { status };
    },
    async *watch(request, context) {
      let last: ServingStatus | undefined;
      while (!context.signal.aborted) {
        const status = state.statusOf(request.service) ?? ServingStatus.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await new Promise<void>((resolve) => {
          const stop = state.onChange(() => { stop(); resolve(); });
          context.signal.addEventListener("abort", () => { stop(); resolve(); }, { once: true });
        });
      }
    },
  };
}
