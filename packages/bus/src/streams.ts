import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, nanos } from "nats";
import type { ConsumerConfig, JetStreamManager, NatsConnection, NatsError, StreamConfig } from "nats";

/**
 * JetStream drops a publish whose Nats-Msg-Id it has seen within this window. It covers the
 * outbox relay's retries after a lost ack; consumers dedupe by event id beyond it.
 */
export const STREAM_DUPLICATE_WINDOW_MS = 10 * 60 * 1000;
/**
 * Events are kept this long whether or not they were consumed: a consumer may be down this
 * long and still catch up. Older events are discarded (limits retention, discard old).
 */
export const STREAM_MAX_AGE_MS = 7 * 24 * 60 * 60 * 1000;
/** Disk bound per stream; when full the oldest events go first, as with the age limit. */
export const STREAM_MAX_BYTES = 1024 * 1024 * 1024;

/** One clearmesh stream: the subjects it captures (PROTOCOL.md §5). */
export interface StreamDefinition {
  name: string;
  subjects: string[];
}

/** Every clearmesh stream, in one place. */
export const CLEARMESH_STREAMS: readonly StreamDefinition[] = [
  { name: "CLEARMESH_CLEARING", subjects: ["clearmesh.clearing.>"] },
  { name: "CLEARMESH_SETTLEMENT", subjects: ["clearmesh.settlement.>"] },
  { name: "CLEARMESH_NOTIFY", subjects: ["clearmesh.notify.>"] },
];

export interface StreamOptions {
  /**
   * Isolates a set of streams on a shared nats-server (tests): names become
   * `<prefix>_CLEARMESH_…` and subjects `<prefix>.clearmesh.…`, because two streams may not
   * capture the same subjects. Publish and consume on the prefixed subjects.
   */
  prefix?: string;
  maxAgeMs?: number;
  maxBytes?: number;
  /** JetStream cluster replicas; 1 on a single server, which cannot keep more (StreamReplicasError). */
  replicas?: number;
}

/** The streams cannot have the replicas asked for: a NATS server that runs alone keeps one copy. */
export class StreamReplicasError extends Error {
  constructor(readonly stream: string, readonly replicas: number, detail: string) {
    super(`stream ${stream} needs ${replicas} replicas, which takes a JetStream cluster of at least ${replicas} servers: ${detail}`);
    this.name = "StreamReplicasError";
  }
}

/** JetStream's error code for replicas > 1 on a server outside a cluster. */
const REPLICAS_NEED_CLUSTER = 10074;

const PREFIX_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** The clearmesh streams with a prefix applied (or as they are, without one). */
export function clearmeshStreams(prefix?: string): StreamDefinition[] {
  if (prefix === undefined) return CLEARMESH_STREAMS.map((stream) => ({ ...stream }));
  if (!PREFIX_PATTERN.test(prefix)) throw new TypeError("stream prefix must be 1-32 of [A-Za-z0-9_-]");
  return CLEARMESH_STREAMS.map((stream) => ({
    name: `${prefix}_${stream.name}`,
    subjects: stream.subjects.map((subject) => `${prefix}.${subject}`),
  }));
}

/** Name of a clearmesh stream under an optional prefix, e.g. streamName("CLEARMESH_NOTIFY", "t1"). */
export function streamName(name: string, prefix?: string): string {
  return prefix === undefined ? name : `${prefix}_${name}`;
}

export interface EnsureReport {
  created: string[];
  updated: string[];
  unchanged: string[];
}

/** JetStream keeps at most five copies of a stream. */
const MAX_REPLICAS = 5;

function streamConfig(definition: StreamDefinition, options: StreamOptions): Partial<StreamConfig> {
  const replicas = options.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) throw new RangeError(`stream replicas must be 1 to ${MAX_REPLICAS}, got ${replicas}`);
  return {
    name: definition.name,
    subjects: definition.subjects,
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(STREAM_DUPLICATE_WINDOW_MS),
    max_age: nanos(options.maxAgeMs ?? STREAM_MAX_AGE_MS),
    max_bytes: options.maxBytes ?? STREAM_MAX_BYTES,
    num_replicas: replicas,
  };
}

const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;

function apiErrorCode(error: unknown): number | undefined {
  return (error as NatsError | undefined)?.api_error?.err_code;
}

/** Fields we set that differ from what the server has (order of subjects ignored). */
function differingFields<T extends object>(wanted: Partial<T>, actual: T): string[] {
  const differing: string[] = [];
  for (const [field, value] of Object.entries(wanted)) {
    const current = (actual as Record<string, unknown>)[field];
    const same = Array.isArray(value)
      ? Array.isArray(current) && [...value].sort().join("\n") === [...current].sort().join("\n")
      : value === current;
    if (!same) differing.push(field);
  }
  return differing;
}

/**
 * Creates missing streams and updates ones whose configuration differs. Never deletes a
 * stream or its messages; a change JetStream cannot apply in place (storage type) fails.
 */
export async function ensureStreams(
  jsm: JetStreamManager,
  definitions: readonly StreamDefinition[] = CLEARMESH_STREAMS,
  options: StreamOptions = {},
): Promise<EnsureReport> {
  const report: EnsureReport = { created: [], updated: [], unchanged: [] };
  for (const definition of definitions) {
    const wanted = streamConfig(definition, options);
    const existing = await jsm.streams.info(definition.name).catch((error: unknown) => {
      if (apiErrorCode(error) === STREAM_NOT_FOUND) return undefined;
      throw error;
    });
    if (existing === undefined) {
      await jsm.streams.add(wanted).catch((error: unknown) => {
        if (apiErrorCode(error) === REPLICAS_NEED_CLUSTER) {
          throw new StreamReplicasError(definition.name, wanted.num_replicas!, (error as NatsError).api_error?.description ?? String(error));
        }
        throw error;
      });
      report.created.push(definition.name);
      continue;
    }
    const differing = differingFields(wanted, existing.config);
    if (differing.length === 0) {
      report.unchanged.push(definition.name);
      continue;
    }
    if (differing.includes("storage")) {
      throw new Error(`stream ${definition.name} uses ${existing.config.storage} storage; moving it to file storage needs a manual migration`);
    }
    // A server outside a cluster would accept a higher replica count in an update, and keep one copy.
    if (wanted.num_replicas! > 1 && existing.cluster === undefined) {
      throw new StreamReplicasError(definition.name, wanted.num_replicas!, "the NATS server runs outside a cluster");
    }
    await jsm.streams.update(definition.name, { ...existing.config, ...wanted });
    report.updated.push(definition.name);
  }
  return report;
}

/** Connects the manager and ensures the clearmesh streams (with the options' prefix). */
export async function ensureClearmeshStreams(nc: NatsConnection, options: StreamOptions = {}): Promise<EnsureReport> {
  const jsm = await nc.jetstreamManager();
  return ensureStreams(jsm, clearmeshStreams(options.prefix), options);
}

export interface DurableConsumerDefinition {
  stream: string;
  durable: string;
  /** Server-side filters; several need nats-server 2.10 or later. Empty: the whole stream. */
  filterSubjects: string[];
  maxDeliver: number;
  ackWaitMs: number;
  maxAckPending: number;
}

function supportsSeveralFilters(nc: NatsConnection): boolean {
  const [major = 0, minor = 0] = (nc.info?.version ?? "0.0").split(".").map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

function consumerConfig(nc: NatsConnection, definition: DurableConsumerDefinition): Partial<ConsumerConfig> {
  const config: Partial<ConsumerConfig> = {
    durable_name: definition.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_deliver: definition.maxDeliver,
    ack_wait: nanos(definition.ackWaitMs),
    max_ack_pending: definition.maxAckPending,
  };
  if (definition.filterSubjects.length === 1) {
    config.filter_subject = definition.filterSubjects[0];
  } else if (definition.filterSubjects.length > 1) {
    if (!supportsSeveralFilters(nc)) {
      throw new Error(
        `consumer ${definition.durable}: nats-server ${nc.info?.version} takes one filter subject; use a wildcard or nats-server 2.10+`,
      );
    }
    config.filter_subjects = definition.filterSubjects;
  }
  return config;
}

/** Creates the durable pull consumer if missing, updates it if its settings differ. */
export async function ensureConsumer(nc: NatsConnection, definition: DurableConsumerDefinition): Promise<EnsureReport> {
  const jsm = await nc.jetstreamManager();
  const wanted = consumerConfig(nc, definition);
  const report: EnsureReport = { created: [], updated: [], unchanged: [] };
  const existing = await jsm.consumers.info(definition.stream, definition.durable).catch((error: unknown) => {
    if (apiErrorCode(error) === CONSUMER_NOT_FOUND) return undefined;
    throw error;
  });
  if (existing === undefined) {
    await jsm.consumers.add(definition.stream, wanted);
    report.created.push(definition.durable);
    return report;
  }
  const { durable_name: _durable, ack_policy: _ack, deliver_policy: _deliver, ...updatable } = wanted;
  if (differingFields(updatable, existing.config).length === 0) {
    report.unchanged.push(definition.durable);
    return report;
  }
  await jsm.consumers.update(definition.stream, definition.durable, updatable);
  report.updated.push(definition.durable);
  return report;
}
