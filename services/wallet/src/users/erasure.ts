// EraseUser: for a user whose balances are all zero and who has nothing in flight, the personal
// data is destroyed by deleting the user's own data key (crypto-shredding): every value sealed
// with it (e-mail, phone, name, TOTP secret, the counterparties of their statement) becomes
// unreadable for good. The sealed values and the keyed alias hashes are cleared as well, the
// sessions end, the alias registrations go. The ledger keeps its rows (accounts, movements,
// entries) under the user id, a random pseudonym, so the provider's books still balance.
//
// The key row is overwritten before it is deleted, so the page holding it no longer carries the
// sealed key once written back (SQLite keeps deleted bytes in free pages otherwise).
import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { EraseUserResponseSchema, type EraseUserResponse } from "@clearmesh/contracts";
import type { Logger } from "@clearmesh/runtime";
import type { Store } from "@clearmesh/store";
import { lockUser } from "../books/ledger.js";
import { WalletError, unauthenticated } from "../errors.js";
import type { Session, UserService } from "./service.js";

export async function eraseUser(deps: { store: Store; users: UserService; now: () => number; logger: Logger }, session: Session, password: string): Promise<EraseUserResponse> {
  await deps.users.reauthenticate(session, password);
  const nowMs = deps.now();
  await deps.store.transaction(async (tx) => {
    if ((await lockUser(tx, session.userId))?.status !== "active") throw unauthenticated();
    const pending = await tx.query("SELECT 1 AS pending FROM movements WHERE user_id = $1 AND state = 'pending' LIMIT 1", [session.userId]);
    if (pending.length > 0) throw new WalletError("MOVEMENT_IN_FLIGHT", "a payment is still in flight; try again when it has finished");
    const money = await tx.query("SELECT 1 AS money FROM accounts WHERE user_id = $1 AND (balance_minor <> 0 OR held_minor <> 0) LIMIT 1", [session.userId]);
    if (money.length > 0) throw new WalletError("BALANCE_NOT_ZERO", "withdraw or spend every balance first");
    await tx.execute(
      `UPDATE users SET status = 'erased', email_hash = NULL, phone_hash = NULL, email_sealed = NULL, phone_sealed = NULL, display_name_sealed = NULL,
         password_hash = '', totp_secret_sealed = NULL, totp_pending_sealed = NULL, totp_enabled = 0, erased_at_ms = $2
       WHERE user_id = $1 AND status = 'active'`,
      [session.userId, BigInt(nowMs)],
    );
    const [key] = await tx.query<{ sealed_key: string }>("SELECT sealed_key FROM user_keys WHERE user_id = $1", [session.userId]);
    if (key) await tx.execute("UPDATE user_keys SET sealed_key = $2 WHERE user_id = $1", [session.userId, randomBytes(key.sealed_key.length).toString("base64").slice(0, key.sealed_key.length)]);
    await tx.execute("DELETE FROM user_keys WHERE user_id = $1", [session.userId]);
    await tx.execute("UPDATE movements SET counterparty_sealed = NULL WHERE user_id = $1", [session.userId]);
    await tx.execute("UPDATE bank_links SET account_sealed = NULL, masked_number_sealed = NULL, token_sealed = NULL, state = 'failed', failure_reason = 'USER_ERASED' WHERE user_id = $1", [session.userId]);
    await tx.execute("DELETE FROM notification_preferences WHERE user_id = $1", [session.userId]);
    await tx.execute("DELETE FROM alias_registrations WHERE user_id = $1", [session.userId]);
    await tx.execute("UPDATE sessions SET revoked_at_ms = $2 WHERE user_id = $1 AND revoked_at_ms IS NULL", [session.userId, BigInt(nowMs)]);
  });
  deps.logger.info({ userId: session.userId }, "user erased");
  return create(EraseUserResponseSchema, { userId: session.userId, erasedAt: timestampFromMs(nowMs) });
}
