// Transfers in the store, read and written as contract messages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { TransferSchema, type Transfer } from "@clearmesh/contracts";
import type { Queryable } from "@clearmesh/store";

type TransferRow = {
  transfer_id: string; payer_id: string; payee_id: string; currency: string; amount_minor: bigint; fee_minor: bigint;
  state: bigint; window_id: string; quote_id: string; payer_reference: string; payee_reference: string;
  created_at_ms: bigint; completed_at_ms: bigint | null;
};

export async function findTransfer(db: Queryable, transferId: string): Promise<Transfer | undefined> {
  const [row] = await db.query<TransferRow>("SELECT * FROM transfers WHERE transfer_id = $1", [transferId]);
  return row ? toTransfer(row) : undefined;
}

export async function insertTransfer(db: Queryable, transfer: Transfer, createdAtMs: number, completedAtMs: number | null): Promise<void> {
  await db.execute(
    `INSERT INTO transfers (transfer_id, payer_id, payee_id, currency, amount_minor, fee_minor, state, window_id, quote_id,
       payer_reference, payee_reference, created_at_ms, completed_at_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [
      transfer.transferId, transfer.payerId, transfer.payeeId, transfer.amount!.currency, transfer.amount!.amountMinor,
      transfer.fee?.amountMinor ?? 0n, transfer.state, transfer.windowId, transfer.quoteId, transfer.payerReference,
      transfer.payeeReference, BigInt(createdAtMs), completedAtMs === null ? null : BigInt(completedAtMs),
    ],
  );
}

function toTransfer(row: TransferRow): Transfer {
  return create(TransferSchema, {
    transferId: row.transfer_id,
    payerId: row.payer_id,
    payeeId: row.payee_id,
    amount: { currency: row.currency, amountMinor: BigInt(row.amount_minor) },
    fee: { currency: row.currency, amountMinor: BigInt(row.fee_minor) },
    state: Number(row.state),
    windowId: row.window_id,
    quoteId: row.quote_id,
    payerReference: row.payer_reference,
    payeeReference: row.payee_reference,
    createdAt: timestampFromMs(Number(row.created_at_ms)),
    completedAt: row.completed_at_ms === null ? undefined : timestampFromMs(Number(row.completed_at_ms)),
  });
}
