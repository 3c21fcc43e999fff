// Keeps a service's Directory current: a full read from clearing at start, on every NATS
// reconnect and every resyncMs, plus each clearmesh.clearing.participant.updated event as it
// is published (a revocation reaches every service in well under 5 s).
import type { NatsConnection, Subscription } from "nats";
import { ClearingService, ParticipantUpdatedSchema } from "@clearmesh/contracts";
import { decodePayload, verifyEnvelope } from "@clearmesh/bus";
import type { Logger } from "pino";
import type { SignedClient } from "./client.js";
import type { Directory } from "./directory.js";

export const PARTICIPANT_UPDATED_SUBJECT = "clearmesh.clearing.participant.updated";
const PAGE_SIZE = 500;
const MAX_PAGES = 1_000;

export interface DirectorySyncOptions {
  directory: Directory;
  nc: NatsConnection;
  clearing: SignedClient<typeof ClearingService>;
  logger: Logger;
  resyncMs: number;
  /** Counted when an event is dropped unprocessed. */
  onInvalid?: (reason: string) => void;
}

export interface DirectorySync {
  /** Resolves after the first full read from clearing succeeded. */
  readonly ready: Promise<void>;
  resync(): Promise<void>;
  stop(): Promise<void>;
}

export function startDirectorySync(options: DirectorySyncOptions): DirectorySync {
  const { directory, logger } = options;
  // Subscribe before the first read, so no update published meanwhile is missed.
  const subscription = options.nc.subscribe(PARTICIPANT_UPDATED_SUBJECT);
  const consuming = consumeUpdates(subscription, options);
  let stopped = false;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => { markReady = resolve; });

  const resync = async (): Promise<void> => {
    let pageToken = "";
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const response = await options.clearing.listParticipants({ page: { pageSize: PAGE_SIZE, pageToken } });
      for (const participant of response.participants) directory.apply(participant);
      pageToken = response.page?.nextPageToken ?? "";
      if (!pageToken) return;
    }
  };

  const resyncLogged = async (): Promise<boolean> => {
    try {
      await resync();
      return true;
    } catch (error) {
      logger.warn({ err: (error as Error).message }, "directory read from clearing failed; retrying");
      return false;
    }
  };

  const firstRead = (async () => {
    for (let attempt = 0; !stopped; attempt += 1) {
      if (await resyncLogged()) {
        logger.info({ participants: directory.size() }, "directory loaded from clearing");
        markReady();
        return;
      }
      await sleep(Math.min(5_000, 200 * 2 ** attempt));
    }
  })();

  const timer = setInterval(() => void resyncLogged(), options.resyncMs);
  timer.unref();
  const watchStatus = (async () => {
    for await (const status of options.nc.status()) {
      if (status.type === "reconnect") void resyncLogged();
    }
  })();

  return {
    ready,
    resync,
    async stop() {
      stopped = true;
      clearInterval(timer);
      subscription.unsubscribe();
      await Promise.allSettled([consuming, firstRead]);
      void watchStatus;
    },
  };
}

async function consumeUpdates(subscription: Subscription, options: DirectorySyncOptions): Promise<void> {
  // Directory events are trusted only when signed by clearing (a configured trust anchor).
  const keyLookup = (producer: string, keyId: string) =>
    producer === "clearing" ? options.directory.activePublicKey(producer, keyId) : undefined;
  for await (const message of subscription) {
    const verified = verifyEnvelope(message.data, message.subject, keyLookup);
    if (!verified.ok) {
      options.onInvalid?.(verified.reason);
      options.logger.warn({ reason: verified.reason }, "dropped an invalid participant.updated envelope");
      continue;
    }
    try {
      options.directory.apply(decodePayload(verified.event, ParticipantUpdatedSchema).participant!);
    } catch (error) {
      options.onInvalid?.("PAYLOAD");
      options.logger.warn({ err: (error as Error).message }, "dropped an undecodable participant.updated payload");
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
