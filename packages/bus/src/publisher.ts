// Publishes to JetStream and waits for each stored-ack, as js.publish does, but with one reply
// subscription for all publishes instead of a request object per message (nats.js builds an
// Error for every request it completes, a few percent of a busy service's event loop). The
// wire is the same: the message carries `Nats-Msg-Id` and a reply subject, and the stream
// answers `{"stream", "seq", "duplicate"}` or `{"error": {"code", "description"}}` there; with no
// stream for the subject the server answers 503 "no responders".
import { createInbox, headers, type NatsConnection, type Msg, type Subscription } from "nats";

export interface StoredAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** How often pending publishes are checked against their timeout. */
const TIMEOUT_SWEEP_MS = 100;
const utf8Decoder = new TextDecoder();

interface Pending {
  resolve: (ack: StoredAck) => void;
  reject: (error: Error) => void;
  deadline: number;
  msgId: string;
}

export class JetStreamPublisher {
  readonly #prefix: string;
  readonly #subscription: Subscription;
  readonly #pending = new Map<string, Pending>();
  readonly #sweeper: NodeJS.Timeout;
  #next = 0;

  constructor(private readonly nc: NatsConnection) {
    this.#prefix = createInbox();
    this.#subscription = nc.subscribe(`${this.#prefix}.*`, { callback: (error, msg) => this.#answered(error, msg) });
    this.#sweeper = setInterval(() => this.#expire(), TIMEOUT_SWEEP_MS);
    this.#sweeper.unref();
  }

  /** Resolves once the stream stored the message (or already had that Nats-Msg-Id). */
  publish(subject: string, data: Uint8Array, msgId: string, timeoutMs: number): Promise<StoredAck> {
    const token = (this.#next++).toString(36);
    const header = headers();
    header.set("Nats-Msg-Id", msgId);
    return new Promise((resolve, reject) => {
      this.#pending.set(token, { resolve, reject, deadline: Date.now() + timeoutMs, msgId });
      try {
        this.nc.publish(subject, data, { reply: `${this.#prefix}.${token}`, headers: header });
      } catch (error) {
        this.#pending.delete(token);
        reject(error as Error);
      }
    });
  }

  /** Stops listening; publishes still waiting are refused. */
  close(): void {
    clearInterval(this.#sweeper);
    this.#subscription.unsubscribe();
    for (const [token, pending] of this.#pending) {
      this.#pending.delete(token);
      pending.reject(new Error(`publisher closed before JetStream acknowledged ${pending.msgId}`));
    }
  }

  #answered(error: Error | null, msg: Msg): void {
    if (error) return; // the subscription itself failed: the sweeper times the publishes out
    const token = msg.subject.slice(this.#prefix.length + 1);
    const pending = this.#pending.get(token);
    if (!pending) return; // answered after its timeout
    this.#pending.delete(token);
    if (msg.headers?.code === 503) {
      pending.reject(new Error(`no JetStream stream stores ${pending.msgId}'s subject (503 no responders)`));
      return;
    }
    let body: { stream?: string; seq?: number; duplicate?: boolean; error?: { code?: number; description?: string } };
    try {
      body = JSON.parse(utf8Decoder.decode(msg.data)) as typeof body;
    } catch {
      pending.reject(new Error(`JetStream answered ${pending.msgId} with something that is not an ack`));
      return;
    }
    if (body.error || typeof body.stream !== "string" || typeof body.seq !== "number") {
      pending.reject(new Error(`JetStream refused ${pending.msgId}: ${body.error?.description ?? "no stream in the ack"} (${body.error?.code ?? "?"})`));
      return;
    }
    pending.resolve({ stream: body.stream, seq: body.seq, duplicate: body.duplicate === true });
  }

  #expire(): void {
    const now = Date.now();
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(token);
      pending.reject(new Error(`no JetStream ack for ${pending.msgId} in time`));
    }
  }
}
