import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { TransferCommittedSchema } from "@clearmesh/contracts";
import { openStore } from "@clearmesh/store";
import type { Store } from "@clearmesh/store";
import { createSigningKey, generateSeed } from "@clearmesh/trust";
import type { SigningKey } from "@clearmesh/trust";
import { buildEnvelope, busMigrations, outboxMigrations } from "../src/index.js";
import type { BuiltEnvelope, KeyLookup } from "../src/index.js";

export function newKey(participantId = "clearing", keyId = "k1"): SigningKey {
  return createSigningKey(participantId, keyId, generateSeed());
}

export function keyLookupFor(...keys: SigningKey[]): KeyLookup {
  return (producer, keyId) =>
    keys.find((key) => key.participantId === producer && key.keyId === keyId)?.publicKey;
}

export function transferEvent(key: SigningKey, subject: string, transferId: string, id?: string): BuiltEnvelope {
  return buildEnvelope(key, {
    subject,
    schema: TransferCommittedSchema,
    message: create(TransferCommittedSchema, { transferId }),
    ...(id === undefined ? {} : { id }),
  });
}

export interface TempStore {
  store: Store;
  cleanup(): Promise<void>;
}

export async function openTempSqlite(): Promise<TempStore> {
  const dir = mkdtempSync(join(tmpdir(), "clearmesh-bus-"));
  const store = await openStore({ sqlitePath: join(dir, "service.db") });
  await store.migrate([...busMigrations, ...outboxMigrations]);
  return {
    store,
    async cleanup() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
