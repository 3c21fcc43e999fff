// The verifier thread (verifier-thread.ts): verifies batches of Ed25519 signatures that the
// event loop collected, and answers each batch with one byte per signature (1: valid). Plain
// JavaScript, started without the TypeScript loader, verifying with libsodium (sodium-native).
// The caller has already refused what points.ts refuses and checked every length, so its
// verdicts are those of every other path.
//
// A batch is one ArrayBuffer: a u32 batch number and a u32 count, then per signature a u32
// message length, the 32-byte public key, the 64-byte signature and the message (little-endian
// numbers). The answer is the batch number and one verdict byte per signature. Once loaded, the
// thread says "ready".
import { createRequire } from "node:module";
import { parentPort } from "node:worker_threads";

// Only started where libsodium loaded on the event loop (keys.ts), so it loads here too; if it
// did not, the thread would never say "ready" and verification would stay in place.
const sodium = createRequire(import.meta.url)("sodium-native");

function verifyOne(publicKey, signature, message) {
  try {
    return sodium.crypto_sign_verify_detached(signature, message, publicKey);
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
