// Every notifier error reason and its gRPC code, in one table (PROTOCOL.md §7), and the reasons
// a delivery fails or is dead-lettered with (Delivery.last_error and the notify events).
import { Code, rpcError, type ConnectError } from "@clearmesh/runtime";

export const notifierReasons = {
  INVALID_ARGUMENT: Code.InvalidArgument,
  DELIVERY_NOT_FOUND: Code.NotFound,
  DELIVERY_NOT_DEAD_LETTERED: Code.FailedPrecondition,
} as const satisfies Record<string, Code>;

export type NotifierReason = keyof typeof notifierReasons;

export function notifierError(reason: NotifierReason, message: string, metadata: Record<string, string> = {}): ConnectError {
  return rpcError(notifierReasons[reason], reason, message, metadata);
}

/** INVALID_ARGUMENT naming the field. */
export function invalidField(field: string, problem: string): ConnectError {
  return notifierError("INVALID_ARGUMENT", `${field} ${problem}`, { field });
}

/**
 * Why an attempt failed or a notification was dead-lettered. `retry`: a later attempt may
 * succeed (backoff, then dead letter after NOTIFY_MAX_ATTEMPTS); otherwise the notification is
 * dead-lettered at once, as no attempt could succeed.
 */
export const deliveryFailureReasons = {
  /** The channel could not be reached: connection refused or reset, DNS, TLS. */
  CHANNEL_UNAVAILABLE: { retry: true },
  /** The channel did not answer within NOTIFY_SEND_TIMEOUT_MS. */
  CHANNEL_TIMEOUT: { retry: true },
  /** The channel refused for now: SMTP 4xx, HTTP 408, 429 or 5xx. */
  CHANNEL_REJECTED: { retry: true },
  /** The channel refused for good: SMTP 5xx, HTTP 4xx (the address, the message, credentials). */
  CHANNEL_REJECTED_PERMANENTLY: { retry: false },
  /** No template for the request's kind. */
  UNKNOWN_KIND: { retry: false },
  /** A parameter the kind needs is missing or malformed (a Money that is not Money JSON, …). */
  INVALID_PARAMETERS: { retry: false },
  /** None of the requested channels has its address among the sealed parameters. */
  NO_REACHABLE_CHANNEL: { retry: false },
  /** A sealed parameter does not open with NOTIFY_DATA_KEYS (unknown key id, tampered). */
  UNSEAL_FAILED: { retry: false },
  /** The opened address is not an e-mail address, or not an E.164 phone number. */
  INVALID_RECIPIENT: { retry: false },
} as const satisfies Record<string, { retry: boolean }>;

export type DeliveryFailureReason = keyof typeof deliveryFailureReasons;

/** Not a failure: the delivery waits for the recipient's rate limit (Delivery.last_error). */
export const RATE_LIMITED = "RATE_LIMITED";
