// Pure parts of the wallet: TOTP (RFC 6238 vectors byte for byte), base32, otpauth URIs, scrypt
// password hashes with their parameters, the password policy, the registration rate limit.
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { RateLimiter, callerKeyOf } from "../src/users/rate-limit.js";
import { checkPasswordPolicy, hashPassword, loadCommonPasswords, needsRehash, parsePasswordHash, verifyPassword } from "../src/users/passwords.js";
import { base32Decode, base32Encode, hotp, matchTotp, otpauthUri, totp, type TotpParameters } from "../src/users/totp.js";
import { WalletError } from "../src/errors.js";

// shared/ sits beside the repository (CLEARMESH_SHARED_DIR elsewhere), as in packages/trust's tests.
const sharedDirectory = process.env.CLEARMESH_SHARED_DIR ?? new URL("../../../../shared/", import.meta.url).pathname;
const vectors = JSON.parse(fs.readFileSync(`${sharedDirectory.replace(/\/?$/, "/")}vectors/totp-rfc6238.json`, "utf8")) as {
  secret_ascii: string;
  vectors: Array<{ unix_time: number; sha1_8_digits: string }>;
};

describe("TOTP (RFC 6238)", () => {
  const secret = new Uint8Array(Buffer.from(vectors.secret_ascii, "ascii"));
  const rfc: TotpParameters = { algorithm: "sha1", digits: 8, stepSeconds: 30 };

  it.each(vectors.vectors)("gives $sha1_8_digits at $unix_time", ({ unix_time, sha1_8_digits }) => {
    expect(totp(secret, unix_time, rfc)).toBe(sha1_8_digits);
  });

  it("matches HOTP (RFC 4226 appendix D) for the first counters", () => {
    expect([0, 1, 2, 9].map((counter) => hotp(secret, counter, "sha1", 6))).toEqual(["755224", "287082", "359152", "520489"]);
  });

  it("accepts a code one step either side, once, and nothing else", () => {
    const now = 1_700_000_000;
    const code = totp(secret, now);
    const step = Math.floor(now / 30);
    expect(matchTotp(secret, code, now, 0)).toBe(step);
    expect(matchTotp(secret, code, now + 30, 0)).toBe(step);
    expect(matchTotp(secret, code, now - 30, 0)).toBe(step);
    expect(matchTotp(secret, code, now + 90, 0)).toBeUndefined();
    expect(matchTotp(secret, code, now, step)).toBeUndefined();
    expect(matchTotp(secret, "12345", now, 0)).toBeUndefined();
    expect(matchTotp(secret, "abcdef", now, 0)).toBeUndefined();
  });

  it("round-trips base32 (RFC 4648 vectors) and builds an otpauth URI", () => {
    expect(base32Encode(Buffer.from("foobar"))).toBe("MZXW6YTBOI");
    expect(base32Encode(Buffer.from("fooba"))).toBe("MZXW6YTB");
    expect(base32Encode(Buffer.from("f"))).toBe("MY");
    expect(Buffer.from(base32Decode("MZXW6YTBOI")).toString()).toBe("foobar");
    const long = new Uint8Array(Array.from({ length: 40 }, (_, index) => (index * 37) % 256));
    expect([...base32Decode(base32Encode(long))]).toEqual([...long]);
    const uri = new URL(otpauthUri(secret, "clearmesh", "alice@example.com"));
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.host).toBe("totp");
    expect(decodeURIComponent(uri.pathname)).toBe("/clearmesh:alice@example.com");
    expect(Object.fromEntries(uri.searchParams)).toEqual({ secret: base32Encode(secret), issuer: "clearmesh", algorithm: "SHA1", digits: "6", period: "30" });
  });
});

describe("passwords", () => {
  it("hashes with scrypt, a salt per hash and the parameters in the hash", async () => {
    const first = await hashPassword("correct horse battery", 1024);
    const second = await hashPassword("correct horse battery", 1024);
    expect(first).toMatch(/^scrypt\$N=1024,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(first).not.toBe(second);
    expect(parsePasswordHash(first)?.salt.length).toBe(16);
    expect(await verifyPassword("correct horse battery", first)).toBe(true);
    expect(await verifyPassword("correct horse batterx", first)).toBe(false);
    expect(await verifyPassword("correct horse battery", "scrypt$garbage")).toBe(false);
    expect(needsRehash(first, 1024)).toBe(false);
    expect(needsRehash(first, 2048)).toBe(true);
  });

  it("refuses short and common passwords naming the field", () => {
    const common = loadCommonPasswords();
    expect(common.size).toBeGreaterThan(100);
    const refusal = (password: string) => {
      try {
        checkPasswordPolicy("password", password, common);
        return undefined;
      } catch (error) {
        return error as WalletError;
      }
    };
    expect(refusal("short pass1")?.reason).toBe("WEAK_PASSWORD");
    expect(refusal("Password1234")?.reason).toBe("WEAK_PASSWORD");
    expect(refusal("QWERTYUIOPAS")?.metadata.field).toBe("password");
    expect(refusal("a perfectly fine passphrase")).toBeUndefined();
  });
});

describe("registration rate limit", () => {
  it("allows the per-caller budget per minute, refills over time, and caps all callers together", () => {
    let now = 0;
    const limiter = new RateLimiter({ perCallerPerMinute: 3, totalPerMinute: 5, now: () => now });
    expect([1, 2, 3, 4].map(() => limiter.take("ip:a"))).toEqual([true, true, true, false]);
    expect(limiter.take("ip:b")).toBe(true);
    expect(limiter.take("ip:c")).toBe(true);
    expect(limiter.take("ip:d")).toBe(false);
    now += 20_000;
    expect(limiter.take("ip:a")).toBe(true);
    expect(limiter.take("ip:a")).toBe(false);
  });

  it("keys callers by the forwarded address, else the client id", () => {
    const headers = (entries: Record<string, string>) => (name: string) => entries[name] ?? null;
    expect(callerKeyOf(headers({ "x-forwarded-for": "203.0.113.7, 10.0.0.1", "x-client-id": "app" }))).toBe("ip:203.0.113.7");
    expect(callerKeyOf(headers({ "x-client-id": "app-1" }))).toBe("client:app-1");
    expect(callerKeyOf(headers({}))).toBe("unidentified");
  });
});

describe("docs/wallet.md", () => {
  it("lists every wallet error reason in its table", async () => {
    const { walletReasons } = await import("../src/errors.js");
    const page = fs.readFileSync(new URL("../../../docs/wallet.md", import.meta.url), "utf8");
    for (const reason of Object.keys(walletReasons)) expect(page, reason).toContain(`| \`${reason}\` |`);
  });
});

