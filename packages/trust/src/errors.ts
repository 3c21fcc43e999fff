/** Why a signed call, event or webhook was refused. Values are the ErrorInfo reasons on the wire. */
export enum TrustFailure {
  SIGNATURE_MISSING = "SIGNATURE_MISSING",
  UNKNOWN_KEY = "UNKNOWN_KEY",
  KEY_REVOKED = "KEY_REVOKED",
  STALE_TIMESTAMP = "STALE_TIMESTAMP",
  REPLAYED_NONCE = "REPLAYED_NONCE",
  BAD_SIGNATURE = "BAD_SIGNATURE",
  /** The replay cache is full of live nonces; mapped to RESOURCE_EXHAUSTED at the edge. */
  NONCE_CAPACITY = "NONCE_CAPACITY",
}

export enum SealFailure {
  MALFORMED = "MALFORMED",
  UNKNOWN_KEY = "UNKNOWN_KEY",
  TAMPERED = "TAMPERED",
}

/** Thrown by unseal; the message never contains plaintext or key material. */
export class SealError extends Error {
  readonly reason: SealFailure;

  constructor(reason: SealFailure, message: string) {
    super(message);
    this.name = "SealError";
    this.reason = reason;
  }
}

/** A key, seed or key-ring specification that cannot be parsed. Never carries key material. */
export class KeyFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyFormatError";
  }
}
