// The HTTP SMS gateway provider: POST application/json `{"to","text","notification_id"}` to
// SMS_GATEWAY_URL (docs/notifier.md). Any 2xx is accepted; 408, 429 and 5xx are retried; any
// other status is a permanent refusal. Another provider is another module like this one.
import { delivered, failed, type OutgoingSms, type SendOutcome, type SmsProvider } from "./types.js";

export interface HttpGatewayOptions {
  url: string;
  /** Sent as `authorization: Bearer <token>` when set. */
  token?: string;
  timeoutMs: number;
}

/** The body the gateway receives. */
export interface SmsGatewayRequest {
  to: string;
  text: string;
  notification_id: string;
}

export function createHttpGatewayProvider(options: HttpGatewayOptions): SmsProvider {
  return {
    name: "http-gateway",
    async send(sms: OutgoingSms): Promise<SendOutcome> {
      const body: SmsGatewayRequest = { to: sms.to, text: sms.text, notification_id: sms.notificationId };
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: "POST",
          headers: {
            "content-type": "application/json",
            // Gateways that dedupe by key drop a copy of a retried message.
            "idempotency-key": sms.notificationId,
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs),
        });
        // The body is not needed (and may echo the number); read it only to free the connection.
        await response.arrayBuffer().catch(() => undefined);
      } catch (error) {
        return classifyFetchError(error);
      }
      if (response.ok) return delivered;
      const retry = response.status === 408 || response.status === 429 || response.status >= 500;
      return failed(retry ? "CHANNEL_REJECTED" : "CHANNEL_REJECTED_PERMANENTLY", `HTTP ${response.status}`);
    },
    close: () => undefined,
  };
}

function classifyFetchError(error: unknown): SendOutcome {
  const name = (error as Error | undefined)?.name;
  if (name === "TimeoutError" || name === "AbortError") return failed("CHANNEL_TIMEOUT", "HTTP timeout");
  const cause = (error as { cause?: { code?: string } } | undefined)?.cause;
  return failed("CHANNEL_UNAVAILABLE", `HTTP ${cause?.code ?? name ?? "error"}`);
}
