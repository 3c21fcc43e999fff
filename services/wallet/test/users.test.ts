// End users over a real gRPC port (PROTOCOL.md §8): registration rules, the one uniform
// UNAUTHENTICATED answer, lockout and its end, session expiry, ChangePassword ending the other
// sessions, the TOTP second factor, the registration rate limit, provider choice, and that
// GetProviderBooks stays signed while user methods need none.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, createSignedClient } from "@clearmesh/runtime";
import { WalletService } from "@clearmesh/contracts";
import { UNAUTHENTICATED_MESSAGE } from "@clearmesh/wallet";
import { base32Decode, totp } from "../src/users/totp.js";
import { bearer, newUserDetails, outcomeOf, registerAndLogin, startWalletMesh, type WalletClient, type WalletMesh } from "./support.js";

const LOCKOUT_MS = 1_500;
const SESSION_TTL_MS = 2_000;

describe("wallet users", () => {
  let walletMesh: WalletMesh;
  let client: WalletClient;

  beforeAll(async () => {
    walletMesh = await startWalletMesh({
      walletEnvironment: { LOGIN_MAX_FAILED_ATTEMPTS: "3", LOGIN_LOCKOUT_MS: String(LOCKOUT_MS), SESSION_TTL_MS: String(SESSION_TTL_MS), REGISTRATIONS_PER_CALLER_PER_MINUTE: "4" },
    });
    client = walletMesh.clients[0]!;
  }, 60_000);
  afterAll(async () => walletMesh?.stop());

  const uniform = { code: Code.Unauthenticated, reason: "UNAUTHENTICATED", message: UNAUTHENTICATED_MESSAGE };
  const asUniform = async (call: Promise<unknown>) => {
    const outcome = await outcomeOf(call);
    return { code: outcome.code, reason: outcome.reason, message: outcome.message };
  };

  it("registers a user at the default or a named provider; a taken e-mail or phone is ALREADY_EXISTS", async () => {
    const details = newUserDetails("", "reg");
    const user = await client.registerUser(details, { metadata: { "x-client-id": "reg-1" } });
    expect(user.providerId).toBe("wallet-a");
    expect(user.userId).toMatch(/^usr_/);
    expect(user.email).toBe(details.email);
    const again = await outcomeOf(client.registerUser({ ...details, phone: newUserDetails().phone }, { metadata: { "x-client-id": "reg-2" } }));
    expect(again).toMatchObject({ code: Code.AlreadyExists, reason: "EMAIL_TAKEN", field: "email" });
    const phoneAgain = await outcomeOf(client.registerUser({ ...newUserDetails(), phone: details.phone }, { metadata: { "x-client-id": "reg-3" } }));
    expect(phoneAgain).toMatchObject({ code: Code.AlreadyExists, reason: "PHONE_TAKEN", field: "phone" });
    // E-mail addresses are unique per provider: the same one may join wallet-b.
    const atB = await client.registerUser({ ...details, providerId: "wallet-b" }, { metadata: { "x-client-id": "reg-4" } });
    expect(atB.providerId).toBe("wallet-b");
    expect(await outcomeOf(client.registerUser({ ...newUserDetails(), providerId: "bank-a" }, { metadata: { "x-client-id": "reg-5" } })))
      .toMatchObject({ code: Code.NotFound, reason: "PROVIDER_NOT_HOSTED" });
  });

  it("refuses bad input naming the field: short or common passwords, phones not in E.164, bad e-mail", async () => {
    const cases: Array<[Record<string, string>, string, string]> = [
      [{ password: "short" }, "WEAK_PASSWORD", "password"],
      [{ password: "password1234" }, "WEAK_PASSWORD", "password"],
      [{ password: "Qwertyuiop123" }, "WEAK_PASSWORD", "password"],
      [{ phone: "5551234567" }, "INVALID_ARGUMENT", "phone"],
      [{ phone: "+1 555 123 4567" }, "INVALID_ARGUMENT", "phone"],
      [{ email: "not-an-address" }, "INVALID_ARGUMENT", "email"],
      [{ displayName: " " }, "INVALID_ARGUMENT", "display_name"],
    ];
    for (const [index, [change, reason, field]] of cases.entries()) {
      const outcome = await outcomeOf(client.registerUser({ ...newUserDetails(), ...change }, { metadata: { "x-client-id": `bad-${index}` } }));
      expect([change, outcome.reason, outcome.field]).toEqual([change, reason, field]);
    }
  });

  it("rate-limits registration per caller", async () => {
    const results = [];
    for (let index = 0; index < 6; index += 1) {
      results.push((await outcomeOf(client.registerUser(newUserDetails(), { metadata: { "x-forwarded-for": "198.51.100.9" } }))).reason ?? "ok");
    }
    expect(results).toEqual(["ok", "ok", "ok", "ok", "RATE_LIMITED", "RATE_LIMITED"]);
    // Another caller is not affected.
    expect(await outcomeOf(client.registerUser(newUserDetails(), { metadata: { "x-forwarded-for": "198.51.100.10" } }))).toEqual({});
  });

  it("answers a wrong password, an unknown e-mail, a missing and a bad session with one uniform UNAUTHENTICATED", async () => {
    const user = await registerAndLogin(client);
    const balances = await client.getBalances({}, bearer(user.token));
    expect(balances.balances).toEqual([]);
    expect(await asUniform(client.login({ email: user.email, password: `${user.password}x` }))).toEqual(uniform);
    expect(await asUniform(client.login({ email: `nobody.${user.email}`, password: user.password }))).toEqual(uniform);
    expect(await asUniform(client.login({ email: "garbage", password: user.password }))).toEqual(uniform);
    expect(await asUniform(client.getBalances({}))).toEqual(uniform);
    expect(await asUniform(client.getBalances({}, bearer("A".repeat(43))))).toEqual(uniform);
    expect(await asUniform(client.getBalances({}, { metadata: { authorization: `Basic ${user.token}` } }))).toEqual(uniform);
    // GetProviderBooks is not an end-user method: unsigned it is refused before anything else.
    expect((await outcomeOf(client.getProviderBooks({ providerId: "wallet-a", currency: "USD" }))).reason).toBe("SIGNATURE_MISSING");
  });

  it("locks the account after the configured failures, answered like a wrong password, and unlocks after the lockout", async () => {
    const user = await registerAndLogin(client);
    for (let attempt = 0; attempt < 3; attempt += 1) expect(await asUniform(client.login({ email: user.email, password: "wrong password 123" }))).toEqual(uniform);
    // Locked: even the right password gets the same answer.
    expect(await asUniform(client.login({ email: user.email, password: user.password }))).toEqual(uniform);
    await new Promise((resolve) => setTimeout(resolve, LOCKOUT_MS + 100));
    const login = await client.login({ email: user.email, password: user.password });
    expect(login.sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // A success resets the count: two failures do not lock.
    for (let attempt = 0; attempt < 2; attempt += 1) await outcomeOf(client.login({ email: user.email, password: "wrong password 123" }));
    expect((await client.login({ email: user.email, password: user.password })).sessionToken).toHaveLength(43);
  });

  it("ends a session at its expiry and at Logout", async () => {
    const user = await registerAndLogin(client);
    const second = await client.login({ email: user.email, password: user.password });
    await client.logout({}, bearer(second.sessionToken));
    expect(await asUniform(client.getBalances({}, bearer(second.sessionToken)))).toEqual(uniform);
    await client.getBalances({}, bearer(user.token));
    await new Promise((resolve) => setTimeout(resolve, SESSION_TTL_MS + 100));
    expect(await asUniform(client.getBalances({}, bearer(user.token)))).toEqual(uniform);
  });

  it("ChangePassword needs the current password, refuses weak ones, and ends every other session", async () => {
    const user = await registerAndLogin(client);
    const other = await client.login({ email: user.email, password: user.password });
    const third = await client.login({ email: user.email, password: user.password });
    expect(await asUniform(client.changePassword({ currentPassword: "not my password", newPassword: "a brand new passphrase" }, bearer(user.token)))).toEqual(uniform);
    expect((await outcomeOf(client.changePassword({ currentPassword: user.password, newPassword: "iloveyou1234" }, bearer(user.token)))).reason).toBe("WEAK_PASSWORD");
    const changed = await client.changePassword({ currentPassword: user.password, newPassword: "a brand new passphrase" }, bearer(user.token));
    expect(changed.sessionsEnded).toBe(2);
    await client.getBalances({}, bearer(user.token));
    for (const ended of [other, third]) expect(await asUniform(client.getBalances({}, bearer(ended.sessionToken)))).toEqual(uniform);
    expect(await asUniform(client.login({ email: user.email, password: user.password }))).toEqual(uniform);
    expect((await client.login({ email: user.email, password: "a brand new passphrase" })).sessionToken).toHaveLength(43);
  });

  it("TOTP: enroll returns an otpauth URI, confirm activates, then Login needs a current code used once", async () => {
    const user = await registerAndLogin(client);
    expect((await outcomeOf(client.confirmTotp({ code: "123456" }, bearer(user.token)))).reason).toBe("TOTP_NOT_ENROLLED");
    const enrolled = await client.enrollTotp({}, bearer(user.token));
    const uri = new URL(enrolled.otpauthUri);
    expect(uri.protocol).toBe("otpauth:");
    expect(uri.searchParams.get("secret")).toBe(enrolled.secret);
    const secret = base32Decode(enrolled.secret);
    const now = () => Math.floor(Date.now() / 1000);
    const wrongCode = totp(secret, now() - 3_600);
    expect((await outcomeOf(client.confirmTotp({ code: wrongCode }, bearer(user.token)))).reason).toBe("TOTP_CODE_INVALID");
    // Until confirmed, the password alone still logs in.
    await client.login({ email: user.email, password: user.password });
    await client.confirmTotp({ code: totp(secret, now()) }, bearer(user.token));
    expect((await outcomeOf(client.enrollTotp({}, bearer(user.token)))).reason).toBe("TOTP_ALREADY_ACTIVE");
    expect(await asUniform(client.login({ email: user.email, password: user.password }))).toEqual(uniform);
    expect(await asUniform(client.login({ email: user.email, password: user.password, totpCode: wrongCode }))).toEqual(uniform);
    // The code used for confirmation cannot log in again; the next step's code can, once.
    const nextCode = totp(secret, now() + 30);
    const login = await client.login({ email: user.email, password: user.password, totpCode: nextCode });
    expect(login.sessionToken).toHaveLength(43);
    expect(await asUniform(client.login({ email: user.email, password: user.password, totpCode: nextCode }))).toEqual(uniform);
  });

  it("user methods need no cm-* signature; the signed books need the provider or the operator", async () => {
    const signedAsBank = createSignedClient(WalletService, { address: `127.0.0.1:${walletMesh.wallets[0]!.grpcPort}`, signer: walletMesh.mesh.keys.get("bank-a")! });
    const signedAsProvider = createSignedClient(WalletService, { address: `127.0.0.1:${walletMesh.wallets[0]!.grpcPort}`, signer: walletMesh.mesh.keys.get("wallet-a")! });
    try {
      expect((await outcomeOf(signedAsBank.getProviderBooks({ providerId: "wallet-a", currency: "USD" }))).code).toBe(Code.PermissionDenied);
      const books = await signedAsProvider.getProviderBooks({ providerId: "wallet-a", currency: "USD" });
      expect(books.balanced).toBe(true);
    } finally {
      signedAsBank.close();
      signedAsProvider.close();
    }
  });
});
