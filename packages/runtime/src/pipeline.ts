// What happens to every call before and after its handler, whatever the transport:
// signature verification (PROTOCOL.md §3), the caller on the context, response signing, metrics.
import { createContextKey, createContextValues, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import {
  ReplayCache, TrustFailure, signRpcResponse, verifyRpcRequestAsync, HEADER_NONCE,
  type HeaderGetter, type KeyLookup, type SigningKey,
} from "@clearmesh/trust";
import { Code, rpcError } from "./errors.js";
import type { Directory } from "./directory.js";
import type { ServiceMetrics } from "./metrics.js";

/** The verified signer of a call. */
export interface Caller {
  readonly participantId: string;
  readonly keyId: string;
  readonly nonce: string;
}

export const callerKey = createContextKey<Caller | undefined>(undefined, { description: "clearmesh caller" });
/** SHA-256 of the request bytes exactly as received, set by the transport. */
export const requestDigestKey = createContextKey<Uint8Array | undefined>(undefined, { description: "request digest" });

/** The verified caller of a signed method; throws if the method was unsigned (a wiring bug). */
export function callerOf(context: HandlerContext): Caller {
  const caller = context.values.get(callerKey);
  if (!caller) throw rpcError(Code.Unauthenticated, TrustFailure.SIGNATURE_MISSING, "this method requires a signed call");
  return caller;
}

/** PERMISSION_DENIED unless the caller is one of the allowed participants. */
export function requireCaller(context: HandlerContext, allowed: readonly string[], what: string): Caller {
  const caller = callerOf(context);
  if (!allowed.includes(caller.participantId)) {
    throw rpcError(Code.PermissionDenied, "PERMISSION_DENIED", `${caller.participantId} may not ${what}`);
  }
  return caller;
}

const failureCodes: Record<TrustFailure, Code> = {
  [TrustFailure.SIGNATURE_MISSING]: Code.Unauthenticated,
  [TrustFailure.UNKNOWN_KEY]: Code.Unauthenticated,
  [TrustFailure.KEY_REVOKED]: Code.Unauthenticated,
  [TrustFailure.STALE_TIMESTAMP]: Code.Unauthenticated,
  [TrustFailure.REPLAYED_NONCE]: Code.Unauthenticated,
  [TrustFailure.BAD_SIGNATURE]: Code.Unauthenticated,
  [TrustFailure.NONCE_CAPACITY]: Code.ResourceExhausted,
};

const failureMessages: Record<TrustFailure, string> = {
  [TrustFailure.SIGNATURE_MISSING]: "the call carries no clearmesh signature (cm-* headers)",
  [TrustFailure.UNKNOWN_KEY]: "unknown participant or key",
  [TrustFailure.KEY_REVOKED]: "the signing key is revoked or expired",
  [TrustFailure.STALE_TIMESTAMP]: "cm-timestamp is outside the accepted window",
  [TrustFailure.REPLAYED_NONCE]: "cm-nonce was already used",
  [TrustFailure.BAD_SIGNATURE]: "the signature does not verify",
  [TrustFailure.NONCE_CAPACITY]: "too many calls from this participant inside the replay window; retry later",
};

export interface PipelineOptions {
  identity: SigningKey;
  directory: Directory;
  metrics: ServiceMetrics;
  maxSkewMs: number;
  maxNoncesPerParticipant: number;
  rpcTimeoutMs: number;
  now?: () => number;
  /**
   * A second key source for signers that are not scheme participants (the e-commerce
   * connector's merchants). Consulted only for ids the directory does not know, so it can
   * never add a key to, or shadow one of, a directory participant.
   */
  extraKeyLookup?: KeyLookup;
}

export class CallPipeline {
  readonly replayCache: ReplayCache;
  private readonly now: () => number;
  private readonly lookupKey: KeyLookup;

  constructor(readonly options: PipelineOptions) {
    this.now = options.now ?? Date.now;
    const { directory, extraKeyLookup } = options;
    this.lookupKey = extraKeyLookup
      ? (participantId, keyId) => (directory.has(participantId) ? directory.lookupKey(participantId, keyId) : extraKeyLookup(participantId, keyId))
      : directory.lookupKey;
    this.replayCache = new ReplayCache({ windowMs: options.maxSkewMs, maxNoncesPerParticipant: options.maxNoncesPerParticipant });
  }

  get rpcTimeoutMs(): number {
    return this.options.rpcTimeoutMs;
  }

  /**
   * Verifies a signed call and returns the context values carrying its caller; rejects with the
   * typed error. The Ed25519 check runs where SIGNATURE_VERIFICATION says (by default on the
   * verifier thread, off the event loop).
   */
  async authenticate(procedure: string, getHeader: HeaderGetter, digest: Uint8Array | undefined, signed: boolean, values: ContextValues = createContextValues()): Promise<ContextValues> {
    if (!signed) return values;
    if (!digest) throw rpcError(Code.Unauthenticated, TrustFailure.BAD_SIGNATURE, "the request bytes could not be read for verification");
    const result = await verifyRpcRequestAsync(getHeader, procedure, digest, this.lookupKey, this.replayCache, this.now(), this.options.maxSkewMs);
    if (!result.ok) {
      this.options.metrics.signatureFailures.inc({ reason: result.reason });
      throw rpcError(failureCodes[result.reason], result.reason, failureMessages[result.reason]);
    }
    return values.set(callerKey, { participantId: result.participantId, keyId: result.keyId, nonce: result.nonce });
  }

  /**
   * The four response headers signed by this service over the exact response bytes. Signed on
   * the event loop: an Ed25519 signature (about 40 µs) costs less there than handing it to the
   * thread pool and waiting for it (docs/performance.md).
   */
  signResponse(procedure: string, values: ContextValues, responseBytes: Uint8Array): Record<string, string> | undefined {
    const caller = values.get(callerKey);
    if (!caller) return undefined;
    return signRpcResponse(this.options.identity, procedure, caller.nonce, responseBytes, { timestampMs: this.now() });
  }

  observe(method: string, code: Code | 0, transport: "grpc" | "connect", seconds: number): void {
    const codeName = code === 0 ? "OK" : Code[code] ?? String(code);
    this.options.metrics.rpcCalls.inc({ method, code: codeName, transport });
    this.options.metrics.rpcDuration.observe({ method, transport }, seconds);
  }
}

export { HEADER_NONCE };
