// Hosted participants' key files and their key ids (HOSTED_KEY_IDS), so a hosted key can rotate.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadSettings } from "../src/config.js";
import { ensureKeyFiles, loadHostedKeys } from "../src/keyfiles.js";
import { hostedKeyIdsSetting, parseHostedKeyIds } from "../src/settings.js";

describe("HOSTED_KEY_IDS", () => {
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-hosted-"));
  afterAll(() => fs.rmSync(keysDir, { recursive: true, force: true }));

  it("parses participant-id:key-id pairs; unset means every hosted key is <id>-1", () => {
    expect([...parseHostedKeyIds("bank-b:bank-b-2, wallet-a:wallet-a.2026")]).toEqual([["bank-b", "bank-b-2"], ["wallet-a", "wallet-a.2026"]]);
    expect(loadSettings({ keyIds: hostedKeyIdsSetting() }, {}).keyIds.size).toBe(0);
  });

  it("refuses a malformed entry or a participant named twice, naming the variable", () => {
    for (const [raw, problem] of [
      ["bank-b", "expected participant-id:key-id"],
      ["bank-b:", "expected participant-id:key-id"],
      ["Bank B:bank-b-2", "expected participant-id:key-id"],
      ["bank-b:key with spaces", "expected participant-id:key-id"],
      ["bank-b:bank-b-2,bank-b:bank-b-3", "bank-b is named twice"],
    ] as const) {
      expect(() => loadSettings({ keyIds: hostedKeyIdsSetting() }, { HOSTED_KEY_IDS: raw })).toThrow(new RegExp(`HOSTED_KEY_IDS=.*${problem}`));
    }
  });

  it("loads each hosted key file under its named key id, the others as <id>-1", () => {
    const bankA = ensureKeyFiles(keysDir, "bank-a");
    const bankB = ensureKeyFiles(keysDir, "bank-b");
    const keys = loadHostedKeys(keysDir, ["bank-a", "bank-b"], parseHostedKeyIds("bank-b:bank-b-2"));
    expect([...keys].map(([id, key]) => [id, key.participantId, key.keyId])).toEqual([["bank-a", "bank-a", "bank-a-1"], ["bank-b", "bank-b", "bank-b-2"]]);
    expect(keys.get("bank-a")!.publicKey).toEqual(bankA.publicKey);
    expect(keys.get("bank-b")!.publicKey).toEqual(bankB.publicKey);
  });

  it("refuses a key id for a participant the process does not host", () => {
    expect(() => loadHostedKeys(keysDir, ["bank-a"], parseHostedKeyIds("bank-b:bank-b-2"))).toThrow("HOSTED_KEY_IDS names bank-b, which HOSTED_PARTICIPANTS does not host");
  });
});
