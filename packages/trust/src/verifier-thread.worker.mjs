// The verifier thread (verifier-thread.ts): verifies batches of Ed25519 signatures that the
// event loop collected, and answers each batch with one byte per signature (1: valid). Plain
// JavaScript, started without the TypeScript loader. The caller has already refused what
// points.ts refuses and checked every length, so libsodium and node:crypto give the same verdicts
// here; libsodium (sodium-native) is used when it loads, as on the event loop.
//
// A batch is one ArrayBuffer: a u32 batch number and a u32 count, then per signature a u32
// message length, the 32-byte public key, the 64-byte signature and the message (little-endian
// numbers). The answer is the batch number and one verdict byte per signature. Once loaded, the
// thread says "ready".
import { createPublicKey, verify } from "node:crypto";
import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";

const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const KEY_CACHE_MAX_ENTRIES = 10_000;

function loadSodium() {
  if (process.env.CLEARMESH_ED25519 === "node-crypto") return undefined;
  try {
    return createRequire(import.meta.url)("sodium-native");
  } catch {
    return undefined;
  }
}

const sodium = loadSodium();
const keyObjects = new Map();

function keyObject(publicKey) {
  const cacheKey = Buffer.from(publicKey).toString("hex");
  let key = keyObjects.get(cacheKey);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, publicKey]), format: "der", type: "spki" });
    if (keyObjects.size >= KEY_CACHE_MAX_ENTRIES) keyObjects.delete(keyObjects.keys().next().value);
    keyObjects.set(cacheKey, key);
  }
  return key;
}

function verifyOne(publicKey, signature, message) {
  try {
    return sodium ? sodium.crypto_sign_verify_detached(signature, message, publicKey) : verify(null, message, keyObject(publicKey), signature);
  } catch {
    return false;
  }
}

parentPort.on("message", (buffer) => {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const count = view.getUint32(4, true);
  // The batch number, then one verdict byte per signature.
  const answer = new Uint8Array(4 + count);
  answer.set(bytes.subarray(0, 4), 0);
  let offset = 8;
  for (let index = 0; index < count; index += 1) {
    const length = view.getUint32(offset, true);
    const publicKey = bytes.subarray(offset + 4, offset + 36);
    const signature = bytes.subarray(offset + 36, offset + 100);
    const message = bytes.subarray(offset + 100, offset + 100 + length);
    offset += 100 + length;
    answer[4 + index] = verifyOne(publicKey, signature, message) ? 1 : 0;
  }
  parentPort.postMessage(answer, [answer.buffer]);
});

// Loaded: from here on, a lost thread is replaced rather than given up (verifier-thread.ts).
parentPort.postMessage("ready");
