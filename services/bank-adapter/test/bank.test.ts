// The bank side of the mesh, end to end: a full mesh (clearing, bank-adapter and the others) on
// free ports with a real nats-server, calls signed as bank-a, wallet-a, acquirer-a and the
// operator. Clearing charges 1 % on USD transfers, so every position below is exact to the unit.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { connect, type NatsConnection } from "nats";
import { buildEnvelope, decodePayload, publishEnvelope, verifyEnvelope } from "@clearmesh/bus";
import {
  AuthorizationState, BankAdapterService, Channel, ClearingService, EnvelopeSchema, MandateState, NotificationRequestedSchema,
  PostingDirection, PullState, StatementFormat, TransferCommittedSchema, TransferState,
} from "@clearmesh/contracts";
import { Code, errorInfo, errorReason } from "@clearmesh/runtime";
import { isLuhnValid } from "../src/accounts/numbers.js";
import { parseDataKeys, unsealText } from "@clearmesh/trust";
import { CAMT053_NAMESPACE } from "../src/statements/camt053.js";
import { parseMinor } from "@clearmesh/runtime";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";
import { allElements, at, child, children, parseXml } from "./support/xml.js";

const FEE_SCHEDULE = '[{"currency":"USD","payer_kind":"*","fixed_minor":"0","basis_points":"100"}]';
const WEEK_MS = 7 * 86_400_000;
const FUNDING = 1_000_000n;
const DEADLINE_MS = 10_000;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const USD = (amountMinor: bigint) => ({ currency: "USD", amountMinor });

let mesh: TestMesh;
let nc: NatsConnection;
const notifications: Uint8Array[] = [];
const committedEvents: Array<{ subject: string; data: Uint8Array }> = [];
const clients = new Map<string, { close(): void }>();

function bankAs(participantId: string) {
  const key = `bank-adapter/${participantId}`;
  if (!clients.has(key)) clients.set(key, clientFor(mesh, "bank-adapter", BankAdapterService, mesh.keys.get(participantId)!));
  return clients.get(key) as ReturnType<typeof clientFor<typeof BankAdapterService>>;
}

function clearingAs(participantId: string) {
  const key = `clearing/${participantId}`;
  if (!clients.has(key)) clients.set(key, clientFor(mesh, "clearing", ClearingService, mesh.keys.get(participantId)!));
  return clients.get(key) as ReturnType<typeof clientFor<typeof ClearingService>>;
}

const bankStore = () => mesh.services["bank-adapter"].store;
const keyRing = (name: string) => parseDataKeys(fs.readFileSync(path.join(mesh.dataDir, "keys", name), "utf8").trim());

beforeAll(async () => {
  mesh = await startTestMesh({ environment: { FEE_SCHEDULE, MAX_TRANSFER_EXPIRY_MS: String(WEEK_MS), EXPIRY_CHECK_MS: "50" } });
  for (const participantId of ["bank-a", "wallet-a", "acquirer-a"]) {
    await mesh.operator.depositLiquidity({ requestId: `fund-${participantId}`, participantId, amount: USD(FUNDING) });
    await mesh.operator.setNetDebitCap({ requestId: `cap-${participantId}`, participantId, cap: USD(FUNDING) });
  }
  nc = await connect({ servers: mesh.nats.url });
  const collect = async (subject: string, sink: (data: Uint8Array) => void) => {
    for await (const message of nc.subscribe(subject)) sink(message.data);
  };
  void collect("clearmesh.notify.requested", (data) => notifications.push(data));
  void collect("clearmesh.clearing.transfer.committed", (data) => committedEvents.push({ subject: "clearmesh.clearing.transfer.committed", data }));
  await nc.flush();
}, 60_000);

afterAll(async () => {
  for (const client of clients.values()) client.close();
  await nc?.drain();
  await mesh?.stop();
});

interface Refusal { code: unknown; reason: string | undefined; field: string | undefined; metadata: Record<string, string> }

async function refused(work: Promise<unknown>): Promise<Refusal> {
  const error = await work.then(() => undefined, (caught: unknown) => caught ?? new Error("rejected without an error"));
  if (error === undefined) throw new Error("expected a refusal");
  const metadata = errorInfo(error)?.metadata ?? {};
  return { code: (error as { code?: unknown }).code, reason: errorReason(error), field: metadata.field, metadata };
}

async function accountState(accountId: string) {
  const account = await bankAs("operator").getAccount({ accountId });
  return { balance: account.balance!.amountMinor, held: account.held!.amountMinor };
}

async function position(participantId: string) {
  const found = await mesh.operator.getPosition({ participantId, currency: "USD" });
  return { position: found.positionMinor, reserved: found.reservedMinor };
}

/** A bad input: the typed refusal, and nothing changed on the account or at clearing. */
async function expectRefusedUnchanged(accountId: string, work: () => Promise<unknown>, expected: Partial<Refusal>): Promise<void> {
  const before = { account: await accountState(accountId), bank: await position("bank-a") };
  expect(await refused(work())).toMatchObject(expected);
  expect({ account: await accountState(accountId), bank: await position("bank-a") }).toEqual(before);
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
    await delay(25);
  }
}

async function openAccount(requestId: string, depositMinor: bigint, holder = { name: "Alice Example", email: "alice@example.com", phone: "+15551230001" }) {
  const account = await bankAs("bank-a").openAccount({ requestId, bankId: "bank-a", holderName: holder.name, currency: "USD", holderEmail: holder.email, holderPhone: holder.phone });
  if (depositMinor > 0n) await bankAs("bank-a").depositCash({ requestId: `dep-${requestId}`, accountId: account.accountId, amount: USD(depositMinor) });
  return account.accountId;
}

/** The notification the bank-adapter published for a mandate, verified as the bank-adapter's. */
async function mandateNotification(mandateId: string) {
  const directory = mesh.services["bank-adapter"].directory;
  const lookup = (producer: string, keyId: string) => (producer === "bank-adapter" ? directory.activePublicKey(producer, keyId) : undefined);
  const find = () => notifications.map((data) => verifyEnvelope(data, "clearmesh.notify.requested", lookup))
    .flatMap((verified) => (verified.ok ? [decodePayload(verified.event, NotificationRequestedSchema)] : []))
    .find((notification) => notification.parameters.mandate_id === mandateId);
  return waitFor(async () => find(), (found) => found !== undefined, `the code of ${mandateId}`).then((found) => found!);
}

async function requestMandate(requestId: string, accountId: string, perTransfer: bigint, daily: bigint) {
  const mandate = await bankAs("wallet-a").requestMandate({ requestId, accountId, payeeId: "wallet-a", perTransferLimit: USD(perTransfer), dailyLimit: USD(daily) });
  const notification = await mandateNotification(mandate.mandateId);
  return { mandate, notification, code: unsealText(keyRing("notify-data-keys"), notification.sealedParameters.code!) };
}

describe("accounts and statements", () => {
  let accountId: string;

  it("opens an account with a sealed, check-digited number shown masked, idempotently", async () => {
    const request = { requestId: "open-alice", bankId: "bank-a", holderName: "Alice Example", currency: "USD", holderEmail: "alice@example.com", holderPhone: "+15551230001" };
    const account = await bankAs("bank-a").openAccount(request);
    accountId = account.accountId;
    expect(account.maskedAccountNumber).toMatch(/^\*\*\*\*\d{4}$/);
    expect([account.bankId, account.currency, account.balance?.amountMinor, account.held?.amountMinor]).toEqual(["bank-a", "USD", 0n, 0n]);
    expect((await bankAs("bank-a").openAccount(request)).accountId).toBe(accountId);
    expect(await refused(bankAs("bank-a").openAccount({ ...request, holderName: "Mallory" }))).toMatchObject({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "holder_name" });

    const [row] = await bankStore().query<{ account_number_sealed: string; holder_email_sealed: string; holder_phone_sealed: string; holder_name_sealed: string }>(
      "SELECT account_number_sealed, holder_email_sealed, holder_phone_sealed, holder_name_sealed FROM accounts WHERE account_id = $1", [accountId]);
    const sealedText = JSON.stringify(row);
    expect(sealedText).not.toContain("alice@example.com");
    expect(sealedText).not.toContain("5551230001");
    expect(sealedText).not.toContain("Alice");
    const number = unsealText(keyRing("data-keys"), row!.account_number_sealed);
    expect(number).toMatch(/^\d{15}$/);
    expect(isLuhnValid(number)).toBe(true);
    expect(account.maskedAccountNumber).toBe(`****${number.slice(-4)}`);
    expect(sealedText).not.toContain(number);
  });

  it("refuses openings by the wrong signer or at a bank it does not host", async () => {
    const base = { bankId: "bank-a", holderName: "Bob", currency: "USD", holderEmail: "", holderPhone: "" };
    expect(await refused(bankAs("bank-b").openAccount({ ...base, requestId: "open-x1" }))).toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED" });
    expect(await refused(bankAs("operator").openAccount({ ...base, requestId: "open-x2", bankId: "wallet-a" }))).toMatchObject({ code: Code.NotFound, reason: "BANK_NOT_HOSTED" });
    expect(await refused(bankAs("bank-a").openAccount({ ...base, requestId: "open-x3", holderPhone: "555" }))).toMatchObject({ code: Code.InvalidArgument, field: "holder_phone" });
    const byOperator = await bankAs("operator").openAccount({ ...base, requestId: "open-x4", bankId: "bank-b" });
    expect(byOperator.bankId).toBe("bank-b");
  });

  it("takes cash deposits once per request id and only in the account's currency", async () => {
    await bankAs("bank-a").depositCash({ requestId: "dep-a1", accountId, amount: USD(100_000n) });
    const repeated = await bankAs("bank-a").depositCash({ requestId: "dep-a1", accountId, amount: USD(100_000n) });
    expect(repeated.balance?.amountMinor).toBe(100_000n);
    await expectRefusedUnchanged(accountId, () => bankAs("bank-a").depositCash({ requestId: "dep-a1", accountId, amount: USD(5n) }), { reason: "IDEMPOTENCY_CONFLICT", field: "amount" });
    await expectRefusedUnchanged(accountId, () => bankAs("bank-a").depositCash({ requestId: "dep-eur", accountId, amount: { currency: "EUR", amountMinor: 5n } }), { reason: "CURRENCY_MISMATCH" });
    await expectRefusedUnchanged(accountId, () => bankAs("bank-b").depositCash({ requestId: "dep-b", accountId, amount: USD(5n) }), { reason: "PERMISSION_DENIED" });
    await expectRefusedUnchanged(accountId, () => bankAs("bank-a").depositCash({ requestId: "dep-0", accountId, amount: USD(0n) }), { reason: "INVALID_ARGUMENT", field: "amount.amount_minor" });
    const after = await bankAs("bank-a").depositCash({ requestId: "dep-a2", accountId, amount: USD(2_345n) });
    expect(after.balance?.amountMinor).toBe(102_345n);
    expect(await refused(bankAs("wallet-a").getAccount({ accountId }))).toMatchObject({ reason: "PERMISSION_DENIED" });
  });

  it("writes the statement as CSV and as camt.053.001.08 that parses back and adds up", async () => {
    const csv = await bankAs("bank-a").getStatement({ accountId, format: StatementFormat.CSV });
    expect(csv.contentType).toBe("text/csv");
    const lines = new TextDecoder().decode(csv.document).trimEnd().split("\r\n");
    expect(lines).toHaveLength(3);
    expect(lines[1]!.split(",").slice(3, 9)).toEqual(["CREDIT", "1000.00", "USD", "1000.00", "dep-a1", "cash deposit"]);
    expect(lines[2]!.split(",").slice(3, 9)).toEqual(["CREDIT", "23.45", "USD", "1023.45", "dep-a2", "cash deposit"]);

    const statement = await bankAs("operator").getStatement({ accountId, format: StatementFormat.CAMT053 });
    expect([statement.contentType, statement.openingBalance?.amountMinor, statement.closingBalance?.amountMinor]).toEqual(["application/xml", 0n, 102_345n]);
    const root = parseXml(new TextDecoder().decode(statement.document));
    expect(allElements(root).every((element) => element.namespace === CAMT053_NAMESPACE)).toBe(true);
    expect(at(root, "BkToCstmrStmt/GrpHdr/MsgId").text).toMatch(/^[0-9A-Z]{26}$/);
    const stmt = at(root, "BkToCstmrStmt/Stmt");
    expect(at(stmt, "Acct/Id/Othr/Id").text).toBe(statement.maskedAccountNumber);
    const balance = (code: string) => children(stmt, "Bal").find((bal) => at(bal, "Tp/CdOrPrtry/Cd").text === code)!;
    const amountOf = (element: Parameters<typeof child>[0]) => (child(element, "CdtDbtInd").text === "CRDT" ? 1n : -1n) * parseMinor(child(element, "Amt").text, child(element, "Amt").attributes.Ccy!);
    const entries = children(stmt, "Ntry");
    expect(entries.map((ntry) => at(ntry, "NtryDtls/TxDtls/Refs/EndToEndId").text)).toEqual(["dep-a1", "dep-a2"]);
    expect(amountOf(balance("OPBD")) + entries.reduce((sum, ntry) => sum + amountOf(ntry), 0n)).toBe(amountOf(balance("CLBD")));
    expect(amountOf(balance("CLBD"))).toBe(102_345n);

    const later = await bankAs("bank-a").getStatement({ accountId, from: statement.entries[1]!.bookedAt });
    expect([later.openingBalance?.amountMinor, later.entries.length, later.closingBalance?.amountMinor, later.document.length]).toEqual([100_000n, 1, 102_345n, 0]);
  });
});

describe("mandates and pulls", () => {
  let accountId: string;
  let token: string;

  it("sends the one-time code through the notifier event, refuses a wrong code and confirms the right one", async () => {
    accountId = await openAccount("open-pull", 100_000n);
    const { mandate, notification, code } = await requestMandate("mdt-1", accountId, 20_000n, 30_000n);
    expect(mandate.state).toBe(MandateState.PENDING_CONFIRMATION);
    expect(notification.kind).toBe("mandate.code");
    expect(notification.channels).toEqual([Channel.SMS, Channel.EMAIL]);
    expect(notification.recipientHint).toBe("+*******0001");
    expect(code).toMatch(/^\d{6}$/);
    const notify = keyRing("notify-data-keys");
    expect([unsealText(notify, notification.sealedParameters.email!), unsealText(notify, notification.sealedParameters.phone!)]).toEqual(["alice@example.com", "+15551230001"]);
    expect(JSON.stringify(notification.parameters)).not.toContain(code);

    const wrong = code === "000000" ? "000001" : "000000";
    await expectRefusedUnchanged(accountId, () => bankAs("wallet-a").confirmMandate({ mandateId: mandate.mandateId, code: wrong }),
      { code: Code.FailedPrecondition, reason: "MANDATE_CODE_INVALID", metadata: { field: "code", attempts_left: "4" } });
    expect(await refused(bankAs("bank-a").confirmMandate({ mandateId: mandate.mandateId, code }))).toMatchObject({ reason: "PERMISSION_DENIED" });
    const confirmed = await bankAs("wallet-a").confirmMandate({ mandateId: mandate.mandateId, code });
    expect(confirmed.state).toBe(MandateState.ACTIVE);
    expect(confirmed.mandateToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    token = confirmed.mandateToken;
    expect(await refused(bankAs("wallet-a").confirmMandate({ mandateId: mandate.mandateId, code }))).toMatchObject({ reason: "MANDATE_NOT_PENDING" });
    const [row] = await bankStore().query<{ token_hash: string }>("SELECT token_hash FROM mandates WHERE mandate_id = $1", [mandate.mandateId]);
    expect(row!.token_hash).not.toContain(token);
  });

  it("expires a mandate after the last wrong code; the right code is then MANDATE_CODE_EXPIRED", async () => {
    const { mandate, code } = await requestMandate("mdt-wrong", accountId, 1_000n, 1_000n);
    const wrong = code === "000000" ? "000001" : "000000";
    for (let attempt = 1; attempt <= 5; attempt += 1) {
      expect((await refused(bankAs("wallet-a").confirmMandate({ mandateId: mandate.mandateId, code: wrong }))).reason).toBe("MANDATE_CODE_INVALID");
    }
    await expectRefusedUnchanged(accountId, () => bankAs("wallet-a").confirmMandate({ mandateId: mandate.mandateId, code }), { code: Code.FailedPrecondition, reason: "MANDATE_CODE_EXPIRED" });
  });

  it("pulls within the limits: the account is debited and clearing pays wallet-a the amount minus the fee", async () => {
    const before = { bank: await position("bank-a"), wallet: await position("wallet-a") };
    const pull = await bankAs("wallet-a").pullFunds({ pullId: "pull-1", mandateToken: token, amount: USD(15_000n), payeeReference: "user-42" });
    expect([pull.state, pull.transferId, pull.amount?.amountMinor]).toEqual([PullState.COMPLETED, "pull-1", 15_000n]);
    expect(await accountState(accountId)).toEqual({ balance: 85_000n, held: 0n });
    expect(await position("bank-a")).toEqual({ position: before.bank.position + 15_000n, reserved: 0n });
    expect(await position("wallet-a")).toEqual({ position: before.wallet.position - 14_850n, reserved: 0n });
    const transfer = await clearingAs("wallet-a").getTransfer({ transferId: "pull-1" });
    expect([transfer.state, transfer.payerId, transfer.payeeId, transfer.payeeReference, transfer.payerReference, transfer.fee?.amountMinor])
      .toEqual([TransferState.COMMITTED, "bank-a", "wallet-a", "user-42", accountId, 150n]);
    const again = await bankAs("wallet-a").pullFunds({ pullId: "pull-1", mandateToken: token, amount: USD(15_000n), payeeReference: "user-42" });
    expect(again.state).toBe(PullState.COMPLETED);
    expect(await accountState(accountId)).toEqual({ balance: 85_000n, held: 0n });
    const statement = await bankAs("bank-a").getStatement({ accountId });
    expect(statement.entries.at(-1)).toMatchObject({ direction: PostingDirection.DEBIT, endToEndId: "pull-1", description: "mandate pull" });
  });

  it("refuses pulls without a mandate, above its limits, beyond the funds, or after revocation, changing nothing", async () => {
    const pull = (pullId: string, amountMinor: bigint, mandateToken = token) => () => bankAs("wallet-a").pullFunds({ pullId, mandateToken, amount: USD(amountMinor), payeeReference: "user-42" });
    await expectRefusedUnchanged(accountId, pull("pull-x1", 1_000n, "no-such-token"), { code: Code.NotFound, reason: "MANDATE_NOT_FOUND" });
    await expectRefusedUnchanged(accountId, pull("pull-x2", 20_001n), { code: Code.FailedPrecondition, reason: "MANDATE_LIMIT_EXCEEDED", metadata: { field: "amount.amount_minor", limit: "per_transfer" } });
    await expectRefusedUnchanged(accountId, pull("pull-x3", 15_001n), { reason: "MANDATE_LIMIT_EXCEEDED", metadata: { field: "amount.amount_minor", limit: "daily" } });
    await expectRefusedUnchanged(accountId, pull("pull-1", 14_000n), { code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT" });
    expect(await refused(bankAs("wallet-b").pullFunds({ pullId: "pull-x4", mandateToken: token, amount: USD(1n), payeeReference: "" }))).toMatchObject({ reason: "PERMISSION_DENIED" });

    const poorId = await openAccount("open-poor", 1_000n, { name: "Bob", email: "bob@example.com", phone: "" });
    const { mandate: poorMandate, code } = await requestMandate("mdt-poor", poorId, 5_000n, 5_000n);
    const poorToken = (await bankAs("wallet-a").confirmMandate({ mandateId: poorMandate.mandateId, code })).mandateToken;
    await expectRefusedUnchanged(poorId, pull("pull-x5", 1_001n, poorToken), { code: Code.FailedPrecondition, reason: "INSUFFICIENT_FUNDS" });
    // The refused pull used none of the day's limit: all 1 000 may still go, and 4 000 of the limit stay.
    expect((await pull("pull-poor", 1_000n, poorToken)()).state).toBe(PullState.COMPLETED);
    expect(await accountState(poorId)).toEqual({ balance: 0n, held: 0n });

    const revoked = await bankAs("wallet-a").revokeMandate({ mandateId: poorMandate.mandateId });
    expect(revoked.state).toBe(MandateState.REVOKED);
    await bankAs("bank-a").depositCash({ requestId: "dep-poor-2", accountId: poorId, amount: USD(500n) });
    await expectRefusedUnchanged(poorId, pull("pull-x6", 100n, poorToken), { reason: "MANDATE_NOT_ACTIVE" });
  });
});

describe("incoming transfers", () => {
  let accountId: string;

  it("credits the account named by payee_reference once, even when the event comes twice", async () => {
    accountId = await openAccount("open-in", 0n);
    const transfer = await clearingAs("wallet-a").createTransfer({ transferId: "in-1", payerId: "wallet-a", payeeId: "bank-a", amount: USD(10_000n), payeeReference: accountId });
    expect(transfer.state).toBe(TransferState.COMMITTED);
    await waitFor(() => accountState(accountId), (state) => state.balance === 9_900n, "the incoming credit");

    const original = await waitFor(async () => committedEvents.find((event) => {
      const envelope = fromBinary(EnvelopeSchema, event.data);
      return fromBinary(TransferCommittedSchema, envelope.payload).transferId === "in-1";
    }), (found) => found !== undefined, "the committed event");
    const envelope = fromBinary(EnvelopeSchema, original!.data);
    const js = nc.jetstream();
    // The same event again (under another NATS message id), and the same transfer in a new event signed by clearing.
    await publishEnvelope(js, original!.data, `${envelope.id}-again`, original!.subject);
    const resigned = buildEnvelope(mesh.keys.get("clearing")!, { subject: original!.subject, schema: TransferCommittedSchema, message: fromBinary(TransferCommittedSchema, envelope.payload) });
    await publishEnvelope(js, resigned.bytes, resigned.id, original!.subject);
    await waitFor(async () => (await bankStore().query("SELECT 1 AS done FROM processed_events WHERE consumer = $1 AND event_id = $2", ["bank-adapter-transfer-committed", resigned.id])).length,
      (count) => count === 1, "the re-signed event to be processed");
    expect(await accountState(accountId)).toEqual({ balance: 9_900n, held: 0n });
    const postings = await bankStore().query("SELECT posting_id FROM postings WHERE posting_key = $1", ["credit:in-1"]);
    expect(postings).toHaveLength(1);
  });

  it("keeps money for an unknown account in suspense, with the reference masked", async () => {
    await clearingAs("wallet-a").createTransfer({ transferId: "in-2", payerId: "wallet-a", payeeId: "bank-a", amount: USD(2_000n), payeeReference: "acc-unknown-12345678" });
    const [row] = await waitFor(() => bankStore().query<{ amount_minor: bigint; reason: string; masked_payee_reference: string }>(
      "SELECT amount_minor, reason, masked_payee_reference FROM suspense_postings WHERE transfer_id = $1", ["in-2"]), (rows) => rows.length === 1, "the suspense posting");
    expect(row).toEqual({ amount_minor: 1_980n, reason: "UNKNOWN_ACCOUNT", masked_payee_reference: "****5678" });
  });

  it("lists the suspense book to its bank and the operator, page by page, and refuses bad inputs", async () => {
    await clearingAs("wallet-a").createTransfer({ transferId: "in-3", payerId: "wallet-a", payeeId: "bank-a", amount: USD(3_000n), payeeReference: "acc-gone-0000" });
    await waitFor(() => bankStore().query("SELECT 1 AS found FROM suspense_postings WHERE transfer_id = $1", ["in-3"]), (rows) => rows.length === 1, "the second suspense posting");
    const book = await bankAs("bank-a").listSuspensePostings({ bankId: "bank-a" });
    expect(book.postings.map((posting) => [posting.transferId, posting.payerId, posting.amount?.amountMinor, posting.reason, posting.maskedPayeeReference, posting.resolvedAccountId]))
      .toEqual([["in-2", "wallet-a", 1_980n, "UNKNOWN_ACCOUNT", "****5678", ""], ["in-3", "wallet-a", 2_970n, "UNKNOWN_ACCOUNT", "****0000", ""]]);
    expect(book.postings[0]!.bookedAt).toBeDefined();
    expect(book.postings[0]!.resolvedAt).toBeUndefined();
    expect(book.page?.nextPageToken).toBe("");

    const first = await bankAs("operator").listSuspensePostings({ bankId: "bank-a", page: { pageSize: 1 } });
    expect(first.postings.map((posting) => posting.transferId)).toEqual(["in-2"]);
    const second = await bankAs("operator").listSuspensePostings({ bankId: "bank-a", page: { pageSize: 1, pageToken: first.page!.nextPageToken } });
    expect(second.postings.map((posting) => posting.transferId)).toEqual(["in-3"]);
    expect((await bankAs("bank-b").listSuspensePostings({ bankId: "bank-b" })).postings).toEqual([]);

    expect(await refused(bankAs("wallet-a").listSuspensePostings({ bankId: "bank-a" }))).toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED" });
    expect(await refused(bankAs("bank-b").listSuspensePostings({ bankId: "bank-a" }))).toMatchObject({ reason: "PERMISSION_DENIED" });
    expect(await refused(bankAs("operator").listSuspensePostings({ bankId: "bank-z" }))).toMatchObject({ code: Code.NotFound, reason: "BANK_NOT_HOSTED", field: "bank_id" });
    expect(await refused(bankAs("operator").listSuspensePostings({ bankId: "" }))).toMatchObject({ code: Code.InvalidArgument, field: "bank_id" });
    expect(await refused(bankAs("operator").listSuspensePostings({ bankId: "bank-a", page: { pageSize: 501 } }))).toMatchObject({ code: Code.InvalidArgument, field: "page.page_size" });
    expect(await refused(bankAs("operator").listSuspensePostings({ bankId: "bank-a", page: { pageToken: "not-ours" } }))).toMatchObject({ code: Code.InvalidArgument, field: "page.page_token" });
  });

  it("books a suspense posting to an account of its bank once; every bad input is refused and changes nothing", async () => {
    const accountId = await openAccount("open-suspense", 0n);
    const otherBank = await bankAs("bank-b").openAccount({ requestId: "open-suspense-b", bankId: "bank-b", holderName: "Bob Example", currency: "USD", holderEmail: "bob@example.com", holderPhone: "+15551230002" });
    const euros = await bankAs("bank-a").openAccount({ requestId: "open-suspense-eur", bankId: "bank-a", holderName: "Eve Example", currency: "EUR", holderEmail: "eve@example.com", holderPhone: "+15551230003" });
    const unchanged = async () => {
      const [row] = await bankStore().query<{ resolved_account_id: string }>("SELECT resolved_account_id FROM suspense_postings WHERE transfer_id = 'in-2'");
      expect(row!.resolved_account_id).toBe("");
      expect(await accountState(accountId)).toEqual({ balance: 0n, held: 0n });
      expect(await accountState(otherBank.accountId)).toEqual({ balance: 0n, held: 0n });
    };
    for (const [caller, request, expected] of [
      ["bank-a", { transferId: "in-none", accountId }, { code: Code.NotFound, reason: "SUSPENSE_NOT_FOUND", field: "transfer_id" }],
      ["bank-a", { transferId: "", accountId }, { code: Code.InvalidArgument, field: "transfer_id" }],
      ["bank-a", { transferId: "in-2", accountId: "" }, { code: Code.InvalidArgument, field: "account_id" }],
      ["bank-a", { transferId: "in-2", accountId: "acct-none" }, { code: Code.NotFound, reason: "ACCOUNT_NOT_FOUND" }],
      ["wallet-a", { transferId: "in-2", accountId }, { code: Code.PermissionDenied, reason: "PERMISSION_DENIED" }],
      ["bank-b", { transferId: "in-2", accountId: otherBank.accountId }, { code: Code.PermissionDenied, reason: "PERMISSION_DENIED" }],
      ["operator", { transferId: "in-2", accountId: otherBank.accountId }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "account_id" }],
      ["bank-a", { transferId: "in-2", accountId: euros.accountId }, { code: Code.InvalidArgument, reason: "CURRENCY_MISMATCH", field: "account_id" }],
    ] as const) {
      expect([caller, request, await refused(bankAs(caller).resolveSuspensePosting(request))]).toMatchObject([caller, request, expected]);
      await unchanged();
    }

    const resolved = await bankAs("bank-a").resolveSuspensePosting({ transferId: "in-2", accountId });
    expect([resolved.transferId, resolved.resolvedAccountId, resolved.amount?.amountMinor]).toEqual(["in-2", accountId, 1_980n]);
    expect(resolved.resolvedAt).toBeDefined();
    expect(await accountState(accountId)).toEqual({ balance: 1_980n, held: 0n });
    // A repeat answers the same posting and credits nothing more; another account is refused.
    expect((await bankAs("operator").resolveSuspensePosting({ transferId: "in-2", accountId })).resolvedAccountId).toBe(accountId);
    const anotherAccount = await openAccount("open-suspense-2", 0n);
    expect(await refused(bankAs("bank-a").resolveSuspensePosting({ transferId: "in-2", accountId: anotherAccount }))).toMatchObject({ code: Code.FailedPrecondition, reason: "SUSPENSE_ALREADY_RESOLVED" });
    expect(await accountState(accountId)).toEqual({ balance: 1_980n, held: 0n });
    expect(await accountState(anotherAccount)).toEqual({ balance: 0n, held: 0n });
    const postings = await bankStore().query<{ kind: string; amount_minor: bigint }>("SELECT kind, amount_minor FROM postings WHERE posting_key = 'suspense:in-2'");
    expect(postings).toEqual([{ kind: "SUSPENSE_BOOKED", amount_minor: 1_980n }]);

    expect((await bankAs("bank-a").listSuspensePostings({ bankId: "bank-a" })).postings.map((posting) => posting.transferId)).toEqual(["in-3"]);
    const all = await bankAs("bank-a").listSuspensePostings({ bankId: "bank-a", includeResolved: true });
    expect(all.postings.map((posting) => [posting.transferId, posting.resolvedAccountId])).toEqual([["in-2", accountId], ["in-3", ""]]);
  });
});

describe("cards", () => {
  let accountId: string;
  let cardToken: string;
  const authorize = (authorizationId: string, amountMinor: bigint, extra: { cardToken?: string; expiresAtMs?: number } = {}) => bankAs("acquirer-a").authorizeCard({
    authorizationId, cardToken: extra.cardToken ?? cardToken, amount: USD(amountMinor), acquirerId: "acquirer-a", merchantReference: `order-${authorizationId}`,
    ...(extra.expiresAtMs === undefined ? {} : { expiresAt: timestampFromMs(extra.expiresAtMs) }),
  });

  it("tokenizes a card: sealed PAN, masked '**** 4242', Luhn and expiry checked", async () => {
    accountId = await openAccount("open-card", 50_000n);
    const request = { requestId: "card-1", accountId, pan: "4242424242424242", expiryMonth: 12, expiryYear: 2099, cardholderName: "ALICE EXAMPLE" };
    const card = await bankAs("bank-a").tokenizeCard(request);
    cardToken = card.cardToken;
    expect(card.cardToken).toMatch(/^card_[A-Za-z0-9_-]{32}$/);
    expect([card.maskedPan, card.accountId, card.bankId]).toEqual(["**** 4242", accountId, "bank-a"]);
    expect((await bankAs("bank-a").tokenizeCard(request)).cardToken).toBe(cardToken);
    const [row] = await bankStore().query<{ pan_sealed: string }>("SELECT pan_sealed FROM cards WHERE card_token = $1", [cardToken]);
    expect(row!.pan_sealed).not.toContain("4242424242424242");
    expect(unsealText(keyRing("data-keys"), row!.pan_sealed)).toBe("4242424242424242");

    const invalid = await refused(bankAs("bank-a").tokenizeCard({ ...request, requestId: "card-x1", pan: "4242424242424241" }));
    expect(invalid).toMatchObject({ code: Code.InvalidArgument, reason: "CARD_NUMBER_INVALID", field: "pan" });
    expect(JSON.stringify(invalid)).not.toContain("4242424242424241");
    expect(await refused(bankAs("bank-a").tokenizeCard({ ...request, requestId: "card-x2", expiryMonth: 1, expiryYear: 2020 }))).toMatchObject({ code: Code.FailedPrecondition, reason: "CARD_EXPIRED" });
    expect(await refused(bankAs("acquirer-a").tokenizeCard({ ...request, requestId: "card-x3" }))).toMatchObject({ reason: "PERMISSION_DENIED" });
  });

  it("refuses an unknown token, an expired card and missing funds, changing nothing", async () => {
    await expectRefusedUnchanged(accountId, () => authorize("auth-x1", 1_000n, { cardToken: "card_AAAAAAAAAAAAAAAAAAAAAAAA" }), { code: Code.NotFound, reason: "CARD_TOKEN_UNKNOWN" });
    await expectRefusedUnchanged(accountId, () => authorize("auth-x2", 50_001n), { code: Code.FailedPrecondition, reason: "INSUFFICIENT_FUNDS" });
    const expiring = await bankAs("bank-a").tokenizeCard({ requestId: "card-2", accountId, pan: "5555555555554444", expiryMonth: 12, expiryYear: 2099, cardholderName: "" });
    // The card expires while it is in the vault.
    await bankStore().execute("UPDATE cards SET expiry_year = 2020 WHERE card_token = $1", [expiring.cardToken]);
    await expectRefusedUnchanged(accountId, () => authorize("auth-x3", 1_000n, { cardToken: expiring.cardToken }), { code: Code.FailedPrecondition, reason: "CARD_EXPIRED" });
    expect(await refused(bankAs("acquirer-a").authorizeCard({ authorizationId: "auth-x4", cardToken, amount: USD(1n), acquirerId: "wallet-a", merchantReference: "" }))).toMatchObject({ reason: "PERMISSION_DENIED" });
  });

  it("authorizes, the acquirer commits part at clearing, and the capture debits that part and releases the rest", async () => {
    const before = { bank: await position("bank-a"), acquirer: await position("acquirer-a") };
    const authorization = await authorize("auth-1", 20_000n);
    expect([authorization.state, authorization.maskedPan, authorization.amount?.amountMinor]).toEqual([AuthorizationState.AUTHORIZED, "**** 4242", 20_000n]);
    expect(await accountState(accountId)).toEqual({ balance: 50_000n, held: 20_000n });
    expect(await position("bank-a")).toEqual({ position: before.bank.position, reserved: 20_000n });
    expect((await authorize("auth-1", 20_000n)).state).toBe(AuthorizationState.AUTHORIZED);

    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-1", amount: USD(20_001n) }), { code: Code.InvalidArgument, reason: "CAPTURE_ABOVE_AUTHORIZATION" });
    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-1" }), { code: Code.FailedPrecondition, reason: "CAPTURE_NOT_COMMITTED" });

    await clearingAs("acquirer-a").commitTransfer({ transferId: "auth-1", amount: USD(12_000n) });
    // The committed event may book the capture first; either way it is booked once. (A mismatch
    // before any booking changes nothing: outcomes.test.ts, where no event races the call.)
    const captured = await bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-1", amount: USD(12_000n) });
    expect([captured.state, captured.captured?.amountMinor]).toEqual([AuthorizationState.CAPTURED, 12_000n]);
    expect(await accountState(accountId)).toEqual({ balance: 38_000n, held: 0n });
    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-1", amount: USD(11_000n) }), { reason: "CAPTURE_AMOUNT_MISMATCH" });
    expect((await bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-1" })).captured?.amountMinor).toBe(12_000n);
    expect(await position("bank-a")).toEqual({ position: before.bank.position + 12_000n, reserved: 0n });
    expect(await position("acquirer-a")).toEqual({ position: before.acquirer.position - 11_880n, reserved: 0n });
    await delay(200);
    expect(await accountState(accountId)).toEqual({ balance: 38_000n, held: 0n });
  });

  it("captures by itself when the committed event arrives, exactly once", async () => {
    await authorize("auth-2", 4_000n);
    await clearingAs("acquirer-a").commitTransfer({ transferId: "auth-2" });
    await waitFor(() => accountState(accountId), (state) => state.balance === 34_000n && state.held === 0n, "the capture by event");
    expect((await bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-2" })).captured?.amountMinor).toBe(4_000n);
    expect(await accountState(accountId)).toEqual({ balance: 34_000n, held: 0n });
  });

  it("voids: the clearing transfer is aborted and the hold released", async () => {
    await authorize("auth-3", 3_000n);
    expect(await accountState(accountId)).toEqual({ balance: 34_000n, held: 3_000n });
    const voided = await bankAs("acquirer-a").voidAuthorization({ authorizationId: "auth-3" });
    expect(voided.state).toBe(AuthorizationState.VOIDED);
    expect(await accountState(accountId)).toEqual({ balance: 34_000n, held: 0n });
    expect((await clearingAs("acquirer-a").getTransfer({ transferId: "auth-3" })).state).toBe(TransferState.ABORTED);
    expect((await position("bank-a")).reserved).toBe(0n);
    expect(await refused(bankAs("acquirer-a").captureAuthorization({ authorizationId: "auth-3" }))).toMatchObject({ reason: "AUTHORIZATION_STATE_INVALID" });
  });

  it("releases the hold when the clearing transfer expires", async () => {
    await authorize("auth-4", 2_500n, { expiresAtMs: Date.now() + 1_500 });
    expect(await accountState(accountId)).toEqual({ balance: 34_000n, held: 2_500n });
    await waitFor(() => accountState(accountId), (state) => state.held === 0n, "the expiry");
    expect(await accountState(accountId)).toEqual({ balance: 34_000n, held: 0n });
    expect(await refused(bankAs("acquirer-a").voidAuthorization({ authorizationId: "auth-4" }))).toMatchObject({ reason: "AUTHORIZATION_STATE_INVALID", metadata: { state: "EXPIRED" } });
  });

  it("refunds through the acquirer's clearing transfer, crediting once and never above the capture", async () => {
    await clearingAs("acquirer-a").createTransfer({ transferId: "rf-tr-1", payerId: "acquirer-a", payeeId: "bank-a", amount: USD(5_000n), payeeReference: "auth-1" });
    const refunded = await bankAs("acquirer-a").refundCapture({ refundId: "rf-1", authorizationId: "auth-1", amount: USD(5_000n), transferId: "rf-tr-1" });
    expect([refunded.refunded?.amountMinor, refunded.captured?.amountMinor]).toEqual([5_000n, 12_000n]);
    expect(await accountState(accountId)).toEqual({ balance: 39_000n, held: 0n });
    await delay(300);
    expect(await accountState(accountId)).toEqual({ balance: 39_000n, held: 0n });
    expect((await bankAs("acquirer-a").refundCapture({ refundId: "rf-1", authorizationId: "auth-1", amount: USD(5_000n), transferId: "rf-tr-1" })).refunded?.amountMinor).toBe(5_000n);

    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").refundCapture({ refundId: "rf-x1", authorizationId: "auth-1", amount: USD(7_001n), transferId: "rf-tr-9" }),
      { code: Code.FailedPrecondition, reason: "REFUND_ABOVE_CAPTURE" });
    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").refundCapture({ refundId: "rf-x2", authorizationId: "auth-1", amount: USD(1_000n), transferId: "no-such-transfer" }),
      { reason: "REFUND_TRANSFER_MISMATCH", field: "transfer_id" });
    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").refundCapture({ refundId: "rf-x3", authorizationId: "auth-1", amount: USD(1_000n), transferId: "rf-tr-1" }),
      { reason: "REFUND_TRANSFER_MISMATCH", field: "transfer_id" });

    // A refund transfer the consumer books before RefundCapture names it: credited once, then claimed.
    await clearingAs("acquirer-a").createTransfer({ transferId: "rf-tr-2", payerId: "acquirer-a", payeeId: "bank-a", amount: USD(3_000n), payeeReference: "auth-1" });
    await waitFor(() => accountState(accountId), (state) => state.balance === 42_000n, "the refund by event");
    expect(await refused(bankAs("acquirer-a").refundCapture({ refundId: "rf-2", authorizationId: "auth-1", amount: USD(2_000n), transferId: "rf-tr-2" }))).toMatchObject({ reason: "REFUND_TRANSFER_MISMATCH" });
    const second = await bankAs("acquirer-a").refundCapture({ refundId: "rf-2", authorizationId: "auth-1", amount: USD(3_000n), transferId: "rf-tr-2" });
    expect(second.refunded?.amountMinor).toBe(8_000n);
    expect(await accountState(accountId)).toEqual({ balance: 42_000n, held: 0n });
    await expectRefusedUnchanged(accountId, () => bankAs("acquirer-a").refundCapture({ refundId: "rf-x4", authorizationId: "auth-1", amount: USD(4_001n), transferId: "rf-tr-3" }),
      { reason: "REFUND_ABOVE_CAPTURE" });
  });
});

describe("money invariants", () => {
  it("every account: balance never negative, held within it, postings sum to it, holds match open items", async () => {
    const accounts = await bankStore().query<{ account_id: string; balance_minor: bigint; held_minor: bigint }>("SELECT account_id, balance_minor, held_minor FROM accounts");
    expect(accounts.length).toBeGreaterThan(3);
    for (const account of accounts) {
      const [sum] = await bankStore().query<{ total: bigint | null }>(
        "SELECT SUM(CASE WHEN direction = 'CREDIT' THEN amount_minor ELSE -amount_minor END) AS total FROM postings WHERE account_id = $1", [account.account_id]);
      const [holds] = await bankStore().query<{ total: bigint | null }>(
        `SELECT (SELECT COALESCE(SUM(held_minor), 0) FROM authorizations WHERE account_id = $1) + (SELECT COALESCE(SUM(held_minor), 0) FROM pulls WHERE account_id = $1) AS total`, [account.account_id]);
      expect(account.balance_minor >= 0n && account.held_minor >= 0n && account.held_minor <= account.balance_minor).toBe(true);
      expect(BigInt(sum!.total ?? 0n)).toBe(account.balance_minor);
      expect(BigInt(holds!.total ?? 0n)).toBe(account.held_minor);
    }
  });
});

