import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Repo root is three levels up from packages/trust/test/; shared/ sits beside the repo.
const repositoryRoot = fileURLToPath(new URL("../../../", import.meta.url));
export const sharedDirectory = process.env.CLEARMESH_SHARED_DIR ?? path.join(repositoryRoot, "..", "shared");

export function loadVectors<T>(fileName: string): T {
  return JSON.parse(readFileSync(path.join(sharedDirectory, "vectors", fileName), "utf8")) as T;
}

export interface Rfc8032Vectors {
  vectors: { seed: string; public_key: string; message: string; signature: string }[];
}

interface KeyPairVector {
  seed: string;
  public_key: string;
}

export interface ClearmeshVectors {
  rpc_request: KeyPairVector & {
    procedure: string;
    "cm-participant": string;
    "cm-key-id": string;
    "cm-timestamp": string;
    "cm-nonce": string;
    request_bytes_hex: string;
    signed_text: string;
    "cm-signature": string;
  };
  rpc_response: KeyPairVector & {
    procedure: string;
    request_nonce: string;
    "cm-participant": string;
    "cm-key-id": string;
    "cm-timestamp": string;
    response_bytes_hex: string;
    signed_text: string;
    "cm-signature": string;
  };
  event: KeyPairVector & {
    id: string;
    type: string;
    producer: string;
    key_id: string;
    produced_at_ms: number;
    subject: string;
    payload_hex: string;
    signed_text: string;
    signature_b64: string;
    envelope_bytes_hex: string;
  };
  webhook: KeyPairVector & {
    "cm-webhook-id": string;
    "cm-webhook-timestamp": string;
    "cm-webhook-key-id": string;
    body: string;
    "cm-webhook-signature": string;
  };
}
