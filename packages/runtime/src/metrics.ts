// Prometheus metrics served on each service's HTTP port. One registry per service instance so
// several services in one test process never collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { callsWaitingForTurn } from "./turns.js";

export interface ServiceMetrics {
  readonly registry: Registry;
  readonly rpcCalls: Counter<"method" | "code" | "transport">;
  readonly rpcDuration: Histogram<"method" | "transport">;
  readonly signatureFailures: Counter<"reason">;
  readonly eventRedeliveries: Counter<"consumer">;
  readonly invalidEvents: Counter<"consumer" | "reason">;
  readonly outboxPending: Gauge;
  readonly outboxOldestAgeSeconds: Gauge;
}

export function createServiceMetrics(service: string, options: { defaultMetrics?: boolean } = {}): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  // Read from the queue at each scrape; nothing sets it.
  new Gauge({
    name: "clearmesh_calls_waiting_for_turn", help: "gRPC calls to start and answers to hand back that wait for a later turn of the event loop (CALLS_PER_TURN).", registers: [registry],
    collect() {
      this.set(callsWaitingForTurn());
    },
  });
  return {
    registry,
    rpcCalls: new Counter({ name: "clearmesh_rpc_calls_total", help: "RPC calls by method, status code and transport.", labelNames: ["method", "code", "transport"], registers: [registry] }),
    rpcDuration: new Histogram({
      name: "clearmesh_rpc_duration_seconds", help: "RPC handling time.", labelNames: ["method", "transport"], registers: [registry],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    }),
    signatureFailures: new Counter({ name: "clearmesh_signature_failures_total", help: "Rejected signed calls by reason.", labelNames: ["reason"], registers: [registry] }),
    eventRedeliveries: new Counter({ name: "clearmesh_event_redeliveries_total", help: "Events redelivered after a failed handler.", labelNames: ["consumer"], registers: [registry] }),
    invalidEvents: new Counter({ name: "clearmesh_events_invalid_total", help: "Envelopes dropped unprocessed (bad signature, unknown key, garbage).", labelNames: ["consumer", "reason"], registers: [registry] }),
    outboxPending: new Gauge({ name: "clearmesh_outbox_pending", help: "Events written but not yet acknowledged by JetStream.", registers: [registry] }),
    outboxOldestAgeSeconds: new Gauge({ name: "clearmesh_outbox_oldest_age_seconds", help: "Age of the oldest unpublished outbox event (outbox lag).", registers: [registry] }),
  };
}
