// End users (PROTOCOL.md §8): registration, login with an optional TOTP second factor, lockout,
// sessions, password change, and the bearer check every user method starts with. Every failed
// authentication answers the same UNAUTHENTICATED (errors.ts), whatever the cause.
import { createHash, randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  ChangePasswordResponseSchema, EnrollTotpResponseSchema, LoginResponseSchema, UserSchema,
  type ChangePasswordRequest, type ChangePasswordResponse, type EnrollTotpResponse, type LoginRequest, type LoginResponse, type RegisterUserRequest, type User,
} from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import { newUlid } from "@clearmesh/bus";
import type { Store } from "@clearmesh/store";
import type { DataKeyRing } from "@clearmesh/trust";
import { WalletError, unauthenticated } from "../errors.js";
import { maskAlias, normalizeEmail, requireDisplayName, requirePhone } from "../validation.js";
import { checkPasswordPolicy, decoyHash, hashPassword, needsRehash, verifyPassword } from "./passwords.js";
import { aliasHash, aliasHashes, newUserKey, openPersonal, sealPersonal, sealUserKey, userRing } from "./personal.js";
import type { RateLimiter } from "./rate-limit.js";
import {
  aliasTaken, findSession, findUser, findUserByAlias, insertSession, insertUser, loadUserKey, recordLoginFailure, recordLoginSuccess,
  revokeSession, revokeSessions, type UserRow,
} from "./repository.js";
import { base32Encode, generateTotpSecret, matchTotp, otpauthUri, base32Decode } from "./totp.js";

const SESSION_TOKEN_BYTES = 32;
const BEARER_PATTERN = /^Bearer ([A-Za-z0-9_-]{43})$/;

export interface UserServiceDeps {
  store: Store;
  dataKeys: DataKeyRing;
  /** Hosted providers in configuration order; the first is the default. */
  providers: readonly string[];
  commonPasswords: ReadonlySet<string>;
  scryptCost: number;
  sessionTtlMs: number;
  maxFailedAttempts: number;
  lockoutMs: number;
  totpIssuer: string;
  registrations: RateLimiter;
  now: () => number;
  logger: Logger;
  /** Called after a registration commits (the alias registrar starts at once). */
  onRegistered?: () => void;
}

/** The user a valid bearer session acts for. */
export interface Session {
  userId: string;
  providerId: string;
  tokenHash: string;
}

export type UserService = ReturnType<typeof createUserService>;

export function createUserService(deps: UserServiceDeps) {
  let decoy: Promise<string> | undefined;
  const decoyHashOnce = () => (decoy ??= decoyHash(deps.scryptCost));

  function providerOf(providerId: string): string {
    if (providerId === "") return deps.providers[0]!;
    if (!deps.providers.includes(providerId)) throw new WalletError("PROVIDER_NOT_HOSTED", `provider ${providerId} is not hosted by this wallet`, { field: "provider_id" });
    return providerId;
  }

  async function userKeyOf(userId: string): Promise<DataKeyRing> {
    const key = await loadUserKey(deps.store, deps.dataKeys, userId);
    if (!key) throw unauthenticated();
    return key;
  }

  async function register(request: RegisterUserRequest, callerKey: string): Promise<User> {
    if (!deps.registrations.take(callerKey)) throw new WalletError("RATE_LIMITED", "too many registrations from this caller; try again in a minute");
    const providerId = providerOf(request.providerId);
    const email = normalizeEmail("email", request.email);
    const phone = requirePhone("phone", request.phone);
    const displayName = requireDisplayName("display_name", request.displayName);
    checkPasswordPolicy("password", request.password, deps.commonPasswords);
    const emailHashes = aliasHashes(deps.dataKeys, "email", email);
    const phoneHashes = aliasHashes(deps.dataKeys, "phone", phone);
    await refuseTaken(providerId, emailHashes, phoneHashes);
    const userId = `usr_${newUlid()}`;
    const key = newUserKey();
    const ring = userRing(key);
    const passwordHash = await hashPassword(request.password, deps.scryptCost);
    const nowMs = deps.now();
    const inserted = await deps.store.transaction((tx) => insertUser(tx, {
      userId, providerId, emailHash: aliasHash(deps.dataKeys, "email", email), phoneHash: aliasHash(deps.dataKeys, "phone", phone),
      emailSealed: sealPersonal(ring, email), phoneSealed: sealPersonal(ring, phone), displayNameSealed: sealPersonal(ring, displayName),
      passwordHash, sealedUserKey: sealUserKey(deps.dataKeys, key), nowMs,
    }));
    // A racing registration of the same address won between the check and the insert.
    if (!inserted) await refuseTaken(providerId, emailHashes, phoneHashes);
    if (!inserted) throw new WalletError("EMAIL_TAKEN", "this e-mail address is already registered", { field: "email" });
    deps.logger.info({ userId, providerId, email: maskAlias(email) }, "user registered");
    deps.onRegistered?.();
    return create(UserSchema, { userId, email, displayName, phone, providerId, createdAt: timestampFromMs(nowMs), totpEnabled: false });
  }

  async function refuseTaken(providerId: string, emailHashes: string[], phoneHashes: string[]): Promise<void> {
    if (await aliasTaken(deps.store, providerId, "email_hash", emailHashes)) throw new WalletError("EMAIL_TAKEN", "this e-mail address is already registered", { field: "email" });
    if (await aliasTaken(deps.store, providerId, "phone_hash", phoneHashes)) throw new WalletError("PHONE_TAKEN", "this phone number is already registered", { field: "phone" });
  }

  /** Checks password (and TOTP code when active) of a known user; counts a failure. */
  async function checkCredentials(user: UserRow, password: string, totpCode: string, nowMs: number): Promise<{ totpStep?: number }> {
    const passwordOk = await verifyPassword(password, user.password_hash);
    const locked = user.locked_until_ms > BigInt(nowMs);
    let totpStep: number | undefined;
    if (passwordOk && user.totp_enabled && user.totp_secret_sealed) {
      const secret = base32Decode(openPersonal(await userKeyOf(user.user_id), user.totp_secret_sealed));
      totpStep = matchTotp(secret, totpCode, Math.floor(nowMs / 1000), Number(user.totp_last_step));
    }
    if (locked) throw unauthenticated();
    if (!passwordOk || (user.totp_enabled && totpStep === undefined)) {
      await recordLoginFailure(deps.store, user.user_id, deps.maxFailedAttempts, deps.lockoutMs, nowMs);
      throw unauthenticated();
    }
    return { totpStep };
  }

  async function login(request: LoginRequest): Promise<LoginResponse> {
    const providerId = providerOf(request.providerId);
    let email: string | undefined;
    try {
      email = normalizeEmail("email", request.email);
    } catch {
      email = undefined;
    }
    const user = email ? await findUserByAlias(deps.store, providerId, "email_hash", aliasHashes(deps.dataKeys, "email", email)) : undefined;
    if (!user) {
      // As slow as a wrong password, so the answer time does not reveal registered addresses.
      await verifyPassword(request.password, await decoyHashOnce());
      throw unauthenticated();
    }
    const nowMs = deps.now();
    const { totpStep } = await checkCredentials(user, request.password, request.totpCode, nowMs);
    const token = randomBytes(SESSION_TOKEN_BYTES).toString("base64url");
    const expiresAtMs = nowMs + deps.sessionTtlMs;
    const rehashed = needsRehash(user.password_hash, deps.scryptCost) ? await hashPassword(request.password, deps.scryptCost) : undefined;
    await deps.store.transaction(async (tx) => {
      if (!(await recordLoginSuccess(tx, user.user_id, totpStep, nowMs))) throw unauthenticated();
      if (rehashed) await tx.execute("UPDATE users SET password_hash = $2 WHERE user_id = $1", [user.user_id, rehashed]);
      await insertSession(tx, hashToken(token), user.user_id, nowMs, expiresAtMs);
    });
    return create(LoginResponseSchema, { sessionToken: token, expiresAt: timestampFromMs(expiresAtMs) });
  }

  /** The session a bearer header names, or the uniform UNAUTHENTICATED. */
  async function authenticate(authorization: string | null): Promise<Session> {
    const match = BEARER_PATTERN.exec(authorization ?? "");
    if (!match) throw unauthenticated();
    const tokenHash = hashToken(match[1]!);
    const session = await findSession(deps.store, tokenHash);
    if (!session || session.revoked_at_ms !== null || session.expires_at_ms <= BigInt(deps.now()) || session.status !== "active") throw unauthenticated();
    return { userId: session.user_id, providerId: session.provider_id, tokenHash };
  }

  /** The session's user, after checking the password again (sensitive changes). */
  async function reauthenticate(session: Session, password: string): Promise<UserRow> {
    const user = await findUser(deps.store, session.userId);
    if (!user || user.status !== "active") throw unauthenticated();
    const nowMs = deps.now();
    if (user.locked_until_ms > BigInt(nowMs) || !(await verifyPassword(password, user.password_hash))) {
      await recordLoginFailure(deps.store, user.user_id, deps.maxFailedAttempts, deps.lockoutMs, nowMs);
      throw unauthenticated();
    }
    return user;
  }

  async function changePassword(session: Session, request: ChangePasswordRequest): Promise<ChangePasswordResponse> {
    checkPasswordPolicy("new_password", request.newPassword, deps.commonPasswords);
    await reauthenticate(session, request.currentPassword);
    const hash = await hashPassword(request.newPassword, deps.scryptCost);
    const nowMs = deps.now();
    const ended = await deps.store.transaction(async (tx) => {
      await tx.execute("UPDATE users SET password_hash = $2 WHERE user_id = $1 AND status = 'active'", [session.userId, hash]);
      return revokeSessions(tx, session.userId, session.tokenHash, nowMs);
    });
    deps.logger.info({ userId: session.userId, sessionsEnded: ended }, "password changed");
    return create(ChangePasswordResponseSchema, { sessionsEnded: ended });
  }

  async function enrollTotp(session: Session): Promise<EnrollTotpResponse> {
    const user = await findUser(deps.store, session.userId);
    if (!user || !user.email_sealed) throw unauthenticated();
    if (user.totp_enabled) throw new WalletError("TOTP_ALREADY_ACTIVE", "a second factor is already active");
    const key = await userKeyOf(user.user_id);
    const secret = generateTotpSecret();
    const encoded = base32Encode(secret);
    await deps.store.execute("UPDATE users SET totp_pending_sealed = $2 WHERE user_id = $1 AND totp_enabled = 0", [user.user_id, sealPersonal(key, encoded)]);
    return create(EnrollTotpResponseSchema, { otpauthUri: otpauthUri(secret, deps.totpIssuer, openPersonal(key, user.email_sealed)), secret: encoded });
  }

  async function confirmTotp(session: Session, code: string): Promise<void> {
    const user = await findUser(deps.store, session.userId);
    if (!user) throw unauthenticated();
    if (user.totp_enabled) throw new WalletError("TOTP_ALREADY_ACTIVE", "a second factor is already active");
    if (!user.totp_pending_sealed) throw new WalletError("TOTP_NOT_ENROLLED", "call EnrollTotp first");
    const secret = base32Decode(openPersonal(await userKeyOf(user.user_id), user.totp_pending_sealed));
    const step = matchTotp(secret, code, Math.floor(deps.now() / 1000), Number(user.totp_last_step));
    if (step === undefined) throw new WalletError("TOTP_CODE_INVALID", "the code does not match the enrolled secret", { field: "code" });
    const { changes } = await deps.store.execute(
      "UPDATE users SET totp_secret_sealed = totp_pending_sealed, totp_pending_sealed = NULL, totp_enabled = 1, totp_last_step = $3 WHERE user_id = $1 AND totp_enabled = 0 AND totp_pending_sealed = $2",
      [user.user_id, user.totp_pending_sealed, BigInt(step)],
    );
    if (changes !== 1) throw new WalletError("TOTP_NOT_ENROLLED", "the enrollment changed meanwhile; call EnrollTotp again");
    deps.logger.info({ userId: user.user_id }, "second factor active");
  }

  return {
    providerOf,
    register,
    login,
    authenticate,
    reauthenticate,
    changePassword,
    enrollTotp,
    confirmTotp,
    logout: (session: Session) => revokeSession(deps.store, session.tokenHash, deps.now()),
    /** Ends every session of the user (erasure). */
    endAllSessions: (userId: string) => revokeSessions(deps.store, userId, "", deps.now()),
  };
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}
