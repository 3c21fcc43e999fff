// The verifier thread (SIGNATURE_VERIFICATION=verifier-thread, the default): signatures asked for
// in one turn go over in batches and come back with the synchronous verdicts, in any mix and
// number; batches the thread never answered (it was lost) are verified in place; a thread that
// cannot start leaves verification in place with a warning; without libsodium the thread is not
// used (libuv's pool and node:crypto verify instead). The thread keeps a process alive only
// while it owes answers.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSigningKey, ed25519Verify, ed25519VerifyAsync, fromHex, generateSeed, setSignatureVerification, utf8 } from "../src/index.js";
import { VERIFIER_BATCH_MAX, verifierThreadForTests } from "../src/verifier-thread.js";
import { loadVectors, type Rfc8032Vectors } from "./vectors.js";

const rfc8032 = loadVectors<Rfc8032Vectors>("ed25519-rfc8032.json");
const realScript = new URL("../src/verifier-thread.worker.mjs", import.meta.url);

interface Case {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** `count` signatures over messages of growing length, every third tampered (a flipped bit). */
function cases(count: number, messageBytes = (index: number) => index % 200): Case[] {
  const keys = Array.from({ length: 3 }, (_, index) => createSigningKey(`bank-${index}`, "k1", generateSeed()));
  return Array.from({ length: count }, (_, index) => {
    const key = keys[index % keys.length]!;
    const message = new Uint8Array(messageBytes(index)).fill(index & 0xff);
    const signature = key.sign(message);
    if (index % 3 === 2) signature[index % 64]! ^= 1 << (index % 8);
    return { publicKey: key.publicKey, message, signature };
  });
}

const verdicts = (list: Case[]) => Promise.all(list.map((entry) => ed25519VerifyAsync(entry.publicKey, entry.message, entry.signature)));
const expected = (list: Case[]) => list.map((entry) => ed25519Verify(entry.publicKey, entry.message, entry.signature));

/** Runs an ES module script on node with tsx; code -1 if it failed to end within 20 s. */
function runScript(script: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000, env: { ...process.env, ...env } }, (error, out) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout: out });
    });
    child.stdin?.end();
  });
}

/**
 * Runs `body` with the next threads started from a script of the given text (and answer limit),
 * after stopping the running one; stops whatever thread is left and removes the script after.
 */
async function withThreadScript(text: string, limitMs: number | undefined, body: () => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "clearmesh-verifier-"));
  const file = path.join(dir, "test.worker.mjs");
  fs.writeFileSync(file, text);
  try {
    await stopThread();
    verifierThreadForTests.useScript(new URL(`file://${file}`), limitMs);
    await body();
  } finally {
    await stopThread();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Says it is ready, then takes every batch and never answers. */
const SILENT = `import { parentPort } from "node:worker_threads";
parentPort.on("message", () => {});
parentPort.postMessage("ready");
`;

async function stopThread(): Promise<void> {
  const thread = verifierThreadForTests.thread();
  if (thread) await thread.terminate();
  // The 'exit' listener runs after terminate() resolves.
  await new Promise((resolve) => setImmediate(resolve));
}

describe("the verifier thread", () => {
  beforeAll(() => setSignatureVerification("verifier-thread"));
  afterEach(() => verifierThreadForTests.useScript(realScript));
  afterAll(() => setSignatureVerification("verifier-thread"));

  it("gives the RFC 8032 vectors' verdicts, and each of many signatures asked in one turn its own", async () => {
    for (const vector of rfc8032.vectors) {
      expect(await ed25519VerifyAsync(fromHex(vector.public_key), fromHex(vector.message), fromHex(vector.signature))).toBe(true);
    }
    const list = cases(VERIFIER_BATCH_MAX * 25 + 3);
    const answers = await verdicts(list);
    expect(answers).toEqual(expected(list));
    expect(answers.filter((valid) => !valid)).toHaveLength(Math.floor(list.length / 3));
    expect(verifierThreadForTests.thread()).toBeDefined();
  });

  it("verifies long messages (a megabyte) and empty ones", async () => {
    const list = cases(6, (index) => (index % 2 === 0 ? 1 << 20 : 0));
    expect(await verdicts(list)).toEqual(expected(list));
  });

  it("verifies in place what a lost thread had not answered, then starts a new thread", async () => {
    // A thread that never answers: the verdicts can only come from the fallback in place.
    await withThreadScript(SILENT, 60_000, async () => {
      const list = cases(40);
      const pending = verdicts(list);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const lost = verifierThreadForTests.thread();
      expect(lost).toBeDefined();
      await lost!.terminate();
      expect(await pending).toEqual(expected(list));
      expect(expected(list)).toContain(false);
      // It said it was ready, so the next batch starts another thread rather than giving up.
      verifierThreadForTests.useScript(realScript);
      const more = cases(9);
      expect(await verdicts(more)).toEqual(expected(more));
      const next = verifierThreadForTests.thread();
      expect(next).toBeDefined();
      expect(next).not.toBe(lost);
      expect(verifierThreadForTests.unusable()).toBe(false);
    });
  });

  it("lets go of a thread that leaves a batch unanswered past the limit, and verifies it in place", async () => {
    await withThreadScript(SILENT, 200, async () => {
      const list = cases(10);
      const started = performance.now();
      const pending = verdicts(list);
      await new Promise((resolve) => setImmediate(resolve));
      const hung = verifierThreadForTests.thread();
      expect(hung).toBeDefined();
      expect(await pending).toEqual(expected(list));
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      // Terminated by the watchdog: its 'exit' comes, and it is no longer the thread in use.
      await new Promise((resolve) => hung!.once("exit", resolve));
      expect(verifierThreadForTests.thread()).not.toBe(hung);
      expect(verifierThreadForTests.unusable()).toBe(false);
    });
  });

  it("verifies the bytes as they were when asked for, whatever the caller does with its arrays after", async () => {
    const key = createSigningKey("bank-a", "k1", generateSeed());
    const message = utf8("pay 100 to bank-b");
    const signature = key.sign(message);
    const publicKey = Uint8Array.from(key.publicKey);
    const honest = ed25519VerifyAsync(publicKey, message, signature);
    // Changed in the same turn, before the batch leaves: the honest bytes were asked for.
    message.set(utf8("pay 900"));
    const forged = ed25519VerifyAsync(publicKey, message, signature);
    signature.fill(0);
    publicKey.fill(0);
    expect(await honest).toBe(true);
    expect(await forged).toBe(false);
  });

  it("does not blame the thread for a wait that was the event loop's own", async () => {
    await stopThread();
    verifierThreadForTests.useScript(realScript, 300);
    const warm = cases(2);
    expect(await verdicts(warm)).toEqual(expected(warm));
    const thread = verifierThreadForTests.thread();
    const list = cases(12);
    const pending = verdicts(list);
    // The batches leave at the end of this turn; then this thread holds the event loop past the
    // limit while the verifier thread answers.
    await new Promise((resolve) => setImmediate(resolve));
    const until = performance.now() + 600;
    while (performance.now() < until) { /* the event loop held up */ }
    expect(await pending).toEqual(expected(list));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(verifierThreadForTests.thread()).toBe(thread);
  });

  // Each liar says it is ready, then answers every batch wrongly, calling every signature valid.
  const liars: Array<[string, string]> = [
    ["under the wrong batch number", `const answer = new Uint8Array(4 + view.getUint32(4, true)).fill(1);
  new DataView(answer.buffer).setUint32(0, view.getUint32(0, true) + 1, true);`],
    ["with one verdict too few", `const answer = new Uint8Array(3 + view.getUint32(4, true)).fill(1);
  new DataView(answer.buffer).setUint32(0, view.getUint32(0, true), true);`],
    ["with a string", `const answer = "all valid";`],
    ["with a second 'ready'", `const answer = "ready";`],
  ];
  it.each(liars)("lets go of a thread that answers %s, and verifies what it owed in place", async (_, makeAnswer) => {
    await withThreadScript(`import { parentPort } from "node:worker_threads";
parentPort.on("message", (buffer) => {
  const view = new DataView(buffer);
  ${makeAnswer}
  parentPort.postMessage(answer);
});
parentPort.postMessage("ready");
`, undefined, async () => {
      const list = cases(20);
      expect(await verdicts(list)).toEqual(expected(list));
      expect(expected(list)).toContain(false);
      // It said it was ready, so it is replaced rather than given up.
      expect(verifierThreadForTests.unusable()).toBe(false);
    });
  });

  it("stays in place, with one warning, when its thread cannot start", async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error & { code?: string }) => {
      if (warning.code === "CLEARMESH_VERIFIER_THREAD") warnings.push(warning.message);
    };
    process.on("warning", onWarning);
    try {
      await withThreadScript("throw new Error('cannot start here');\n", undefined, async () => {
        const list = cases(12);
        expect(await verdicts(list)).toEqual(expected(list));
        expect(verifierThreadForTests.unusable()).toBe(true);
        // From then on in place, at once: no thread is started again.
        const more = cases(5);
        expect(await verdicts(more)).toEqual(expected(more));
        expect(verifierThreadForTests.thread()).toBeUndefined();
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings).toHaveLength(1);
        expect(warnings[0]).toMatch(/verified on the event loop instead/);
      });
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("is not used without libsodium: node:crypto on libuv's pool gives the verdicts", async () => {
    // libsodium is chosen as the module loads, so this runs in a process of its own.
    const src = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src");
    const script = `
      const trust = await import(${JSON.stringify(path.join(src, "index.ts"))});
      const { verifierThreadForTests } = await import(${JSON.stringify(path.join(src, "verifier-thread.ts"))});
      const key = trust.createSigningKey("bank-a", "k1", trust.generateSeed());
      const message = trust.utf8("pay 100");
      const signature = key.sign(message);
      const verdicts = await Promise.all([trust.ed25519VerifyAsync(key.publicKey, message, signature), trust.ed25519VerifyAsync(key.publicKey, trust.utf8("pay 900"), signature)]);
      console.log(trust.ed25519Library(), trust.signatureVerification(), verdicts.join(" "), verifierThreadForTests.thread() === undefined ? "no thread" : "a thread", trust.publicKeyCacheSize());
    `;
    const { code, stdout } = await runScript(script, { CLEARMESH_ED25519: "node-crypto" });
    expect(stdout.trim()).toBe("node:crypto verifier-thread true false no thread 1");
    expect(code).toBe(0);
  });

  it("keeps a process alive while it owes answers, and not once it is idle", async () => {
    // A short-lived process (a CLI call, say): it must get its verdicts and then exit on its own.
    const index = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/index.ts");
    const script = `
      const { createSigningKey, ed25519VerifyAsync, generateSeed, signatureVerification, utf8 } = await import(${JSON.stringify(index)});
      const key = createSigningKey("bank-a", "k1", generateSeed());
      const message = utf8("pay 100");
      const signature = key.sign(message);
      const verdicts = await Promise.all([ed25519VerifyAsync(key.publicKey, message, signature), ed25519VerifyAsync(key.publicKey, utf8("pay 900"), signature)]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const late = await ed25519VerifyAsync(key.publicKey, message, signature);
      console.log(signatureVerification(), verdicts.join(" "), late);
    `;
    const { code, stdout } = await runScript(script);
    expect(stdout.trim()).toBe("verifier-thread true false true");
    expect(code).toBe(0);
  });
});
