// GetProviderBooks: a provider's totals in one currency and whether its books balance: the
// accounts sum to zero, and every account's balance equals the sum of its entries.
import { create } from "@bufbuild/protobuf";
import { ProviderBooksSchema, type ProviderBooks } from "@clearmesh/contracts";
import type { Queryable } from "@clearmesh/store";

export async function providerBooks(db: Queryable, providerId: string, currency: string): Promise<ProviderBooks> {
  const totals = await db.query<{ kind: string; balance: unknown; held: unknown }>(
    "SELECT kind, COALESCE(SUM(balance_minor), 0) AS balance, COALESCE(SUM(held_minor), 0) AS held FROM accounts WHERE provider_id = $1 AND currency = $2 GROUP BY kind",
    [providerId, currency],
  );
  const of = (kind: string) => totals.find((row) => row.kind === kind);
  const amount = (value: unknown) => BigInt(String(value ?? 0));
  const users = amount(of("user")?.balance);
  const held = amount(of("user")?.held);
  const clearing = amount(of("clearing")?.balance);
  const suspense = amount(of("suspense")?.balance);
  const [drift] = await db.query<{ drifting: unknown }>(
    `SELECT COUNT(*) AS drifting FROM accounts a
     WHERE a.provider_id = $1 AND a.currency = $2
       AND a.balance_minor <> COALESCE((SELECT SUM(e.amount_minor) FROM entries e WHERE e.account_id = a.account_id), 0)`,
    [providerId, currency],
  );
  const balanced = users + clearing + suspense === 0n && amount(drift?.drifting) === 0n;
  return create(ProviderBooksSchema, {
    providerId,
    userBalances: { currency, amountMinor: users },
    held: { currency, amountMinor: held },
    clearingPositionMinor: clearing,
    suspense: { currency, amountMinor: suspense },
    balanced,
  });
}
