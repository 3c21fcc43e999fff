// Clearing's foundation slice over signed gRPC, on SQLite and on PostgreSQL: the directory,
// CreateTransfer with idempotency, every bad input answered with its reason and no effect, and
// the transfer.committed event leaving through the outbox to a verifying consumer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { startConsumer, type VerifiedEvent, decodePayload } from "@clearmesh/bus";
import { ClearingService, CreateTransferRequestSchema, ParticipantKind, TransferCommittedSchema, TransferState } from "@clearmesh/contracts";
import { Code, errorInfo, errorReason } from "@clearmesh/runtime";
import { createTestDatabase, openStore, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed, signRpcRequest } from "@clearmesh/trust";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

describe.each(engines)("clearing on $name", ({ database }) => {
  let mesh: TestMesh;
  let testDatabase: TestDatabase | undefined;
  let bankA: ReturnType<typeof clientFor<typeof ClearingService>>;
  let counter = 0;
  const nextId = () => `t-${Date.now()}-${(counter += 1)}`;

  beforeAll(async () => {
    testDatabase = await database();
    mesh = await startTestMesh({ clearingOnly: true, environment: testDatabase ? { STORE_URL: testDatabase.url } : {} });
    bankA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!);
    await mesh.operator.depositLiquidity({ requestId: "fund-bank-a", participantId: "bank-a", amount: { currency: "USD", amountMinor: 10_000_000n } });
    await mesh.operator.setNetDebitCap({ requestId: "cap-bank-a", participantId: "bank-a", cap: { currency: "USD", amountMinor: 10_000_000n } });
  }, 60_000);
  afterAll(async () => {
    await mesh?.stop();
    await testDatabase?.drop();
  });

  async function reasonOf(call: Promise<unknown>): Promise<{ code?: number; reason?: string; field?: string }> {
    try {
      await call;
      return {};
    } catch (error) {
      return { code: (error as { code?: number }).code, reason: errorReason(error), field: errorInfo(error)?.metadata.field };
    }
  }

  it("commits a transfer once and answers a repeat with the same transfer", async () => {
    const request = { transferId: nextId(), payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 1250n }, payeeReference: "alice" };
    const first = await bankA.createTransfer(request);
    expect(first.state).toBe(TransferState.COMMITTED);
    expect(first.amount?.amountMinor).toBe(1250n);
    const again = await bankA.createTransfer(request);
    expect(again.transferId).toBe(first.transferId);
    expect(again.payeeReference).toBe("alice");
    const read = await clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-b")!).getTransfer({ transferId: request.transferId });
    expect(read.amount?.amountMinor).toBe(1250n);
  });

  it("names the first differing field when a transfer id is reused with another request", async () => {
    const transferId = nextId();
    await bankA.createTransfer({ transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 500n } });
    expect(await reasonOf(bankA.createTransfer({ transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 501n } })))
      .toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "amount.amount_minor" });
    expect(await reasonOf(bankA.createTransfer({ transferId, payerId: "bank-a", payeeId: "wallet-a", amount: { currency: "USD", amountMinor: 500n } })))
      .toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "payee_id" });
    const stored = await bankA.getTransfer({ transferId });
    expect(stored.amount?.amountMinor).toBe(500n);
  });

  it("keeps concurrent repeats of one id to a single transfer", async () => {
    const request = { transferId: nextId(), payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 7n } };
    const answers = await Promise.all(Array.from({ length: 20 }, () => bankA.createTransfer(request)));
    expect(new Set(answers.map((answer) => answer.transferId)).size).toBe(1);
    const store = await openStore({ url: mesh.environment.STORE_URL ?? `sqlite:${mesh.dataDir}/clearing.db` });
    const rows = await store.query<{ count: bigint }>("SELECT COUNT(*) AS count FROM transfers WHERE transfer_id = $1", [request.transferId]);
    await store.close();
    expect(rows[0]!.count).toBe(1n);
  });

  const badTransfers: Array<[string, Record<string, unknown>, { code: number; reason: string; field?: string }]> = [
    ["a malformed transfer id", { transferId: "bad id!" }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "transfer_id" }],
    ["payer = payee", { payeeId: "bank-a" }, { code: Code.InvalidArgument, reason: "SAME_PARTICIPANT", field: "payee_id" }],
    ["an unknown payee", { payeeId: "nobody-here" }, { code: Code.NotFound, reason: "UNKNOWN_PARTICIPANT", field: "payee_id" }],
    ["a zero amount", { amount: { currency: "USD", amountMinor: 0n } }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount.amount_minor" }],
    ["a negative amount", { amount: { currency: "USD", amountMinor: -5n } }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount.amount_minor" }],
    ["a missing amount", { amount: undefined }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount" }],
    ["a lower-case currency", { amount: { currency: "usd", amountMinor: 5n } }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "amount.currency" }],
    ["a currency the participants have not enabled", { amount: { currency: "JPY", amountMinor: 5n } }, { code: Code.FailedPrecondition, reason: "CURRENCY_NOT_ENABLED", field: "amount.currency" }],
    ["an unknown quote", { quoteId: "q-1" }, { code: Code.NotFound, reason: "QUOTE_NOT_FOUND", field: "quote_id" }],
    ["an over-long reference", { payeeReference: "x".repeat(129) }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "payee_reference" }],
    ["a payer other than the signer", { payerId: "bank-b", payeeId: "wallet-a" }, { code: Code.PermissionDenied, reason: "PERMISSION_DENIED", field: "payer_id" }],
  ];

  it.each(badTransfers)("refuses %s and stores nothing", async (_name, change, expected) => {
    const request = { transferId: nextId(), payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 100n }, ...change };
    expect(await reasonOf(bankA.createTransfer(request as never))).toEqual(expected);
    if (typeof request.transferId === "string" && /^[A-Za-z0-9]/.test(request.transferId) && !request.transferId.includes(" ")) {
      expect((await reasonOf(bankA.getTransfer({ transferId: request.transferId }))).reason).toBe("TRANSFER_NOT_FOUND");
    }
  });

  it("rejects an int64-overflowing amount on the wire as malformed", async () => {
    // 2^63 does not fit int64: encode a varint of 2^63 by hand inside Money.amount_minor.
    const valid = toBinary(CreateTransferRequestSchema, create(CreateTransferRequestSchema, { transferId: nextId(), payerId: "bank-a", payeeId: "bank-b" }));
    const money = Buffer.concat([Buffer.from([0x0a, 0x03]), Buffer.from("USD"), Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01])]);
    const bytes = Buffer.concat([valid, Buffer.from([0x22, money.length]), money]);
    const procedure = "/clearmesh.clearing.v1.ClearingService/CreateTransfer";
    const outcome = await reasonOf(bankA.raw(procedure, bytes, signRpcRequest(mesh.keys.get("bank-a")!, procedure, bytes)));
    // protobuf-es reads 2^63 as int64 min (two's complement): a negative amount, refused.
    expect(outcome.code).toBe(Code.InvalidArgument);
  });

  it("lets only the operator register participants and validates every field", async () => {
    const key = createSigningKey("bank-c", "bank-c-1", generateSeed());
    const valid = { participantId: "bank-c", name: "Bank C", kind: ParticipantKind.BANK, currencies: ["USD"], keys: [{ keyId: key.keyId, publicKey: key.publicKey }] };
    expect((await reasonOf(bankA.registerParticipant(valid))).reason).toBe("PERMISSION_DENIED");
    for (const [change, field] of [
      [{ participantId: "B" }, "participant_id"], [{ name: "" }, "name"], [{ kind: ParticipantKind.UNSPECIFIED }, "kind"],
      [{ kind: ParticipantKind.OPERATOR }, "kind"], [{ currencies: ["US"] }, "currencies[0]"], [{ currencies: ["USD", "USD"] }, "currencies"],
      [{ keys: [] }, "keys"], [{ keys: [{ keyId: "k", publicKey: new Uint8Array(31) }] }, "keys[0].public_key"],
      // The identity point (y = 1) and a key with y = p + 2 (not canonical): nothing could verify under them.
      [{ keys: [{ keyId: "k", publicKey: Uint8Array.of(1, ...new Uint8Array(31)) }] }, "keys[0].public_key"],
      [{ keys: [{ keyId: "k", publicKey: Uint8Array.of(0xef, ...new Uint8Array(30).fill(0xff), 0x7f) }] }, "keys[0].public_key"],
    ] as const) {
      expect(await reasonOf(mesh.operator.registerParticipant({ ...valid, ...change } as never))).toEqual({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field });
    }
    expect((await reasonOf(mesh.operator.getParticipant({ participantId: "bank-c" }))).reason).toBe("UNKNOWN_PARTICIPANT");
    const created = await mesh.operator.registerParticipant(valid);
    expect(created.version).toBe(1n);
    expect((await mesh.operator.registerParticipant(valid)).version).toBe(1n);
    expect(await reasonOf(mesh.operator.registerParticipant({ ...valid, name: "Other" }))).toEqual({ code: Code.AlreadyExists, reason: "IDEMPOTENCY_CONFLICT", field: "name" });
  });

  it("pages through the directory", async () => {
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await bankA.listParticipants({ page: { pageSize: 3, pageToken } });
      expect(page.participants.length).toBeLessThanOrEqual(3);
      seen.push(...page.participants.map((participant) => participant.participantId));
      pageToken = page.page?.nextPageToken ?? "";
    } while (pageToken);
    expect(seen).toEqual([...seen].sort());
    expect(seen).toEqual(expect.arrayContaining(["operator", "clearing", "bank-a", "bank-b", "wallet-a", "acquirer-a"]));
    expect((await reasonOf(bankA.listParticipants({ page: { pageSize: 501 } }))).field).toBe("page.page_size");
    expect((await reasonOf(bankA.listParticipants({ page: { pageToken: "garbage" } }))).field).toBe("page.page_token");
  });

  it("sends transfer.committed through the outbox to a consumer that verifies it", async () => {
    const received: VerifiedEvent[] = [];
    const store = await openStore({ sqlitePath: `${mesh.dataDir}/consumer.db` });
    const { busMigrations } = await import("@clearmesh/bus");
    await store.migrate(busMigrations);
    const nc = await (await import("nats")).connect({ servers: mesh.nats.url });
    const directory = mesh.services.clearing.directory;
    const invalid: string[] = [];
    const consumer = await startConsumer({
      nc, stream: "CLEARMESH_CLEARING", durable: `test-${Date.now()}`, filterSubjects: ["clearmesh.clearing.transfer.committed"], store,
      keyLookup: (producer, keyId) => directory.activePublicKey(producer, keyId),
      handler: async (event) => { received.push(event); },
      onInvalid: (reason) => invalid.push(reason),
    });
    const transferId = nextId();
    await bankA.createTransfer({ transferId, payerId: "bank-a", payeeId: "bank-b", amount: { currency: "USD", amountMinor: 4242n }, payeeReference: "bob" });
    const deadline = Date.now() + 5_000;
    while (!received.some((event) => decodePayload(event, TransferCommittedSchema).transferId === transferId) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await consumer.stop();
    await nc.drain();
    await store.close();
    const event = received.find((candidate) => decodePayload(candidate, TransferCommittedSchema).transferId === transferId);
    expect(event?.producer).toBe("clearing");
    const payload = decodePayload(event!, TransferCommittedSchema);
    expect(payload.transfer?.amount?.amountMinor).toBe(4242n);
    expect(payload.transfer?.payeeReference).toBe("bob");
    expect(invalid).toEqual([]);
  });
});
