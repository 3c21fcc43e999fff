// Party lookup over signed gRPC, on SQLite and on PostgreSQL: RegisterParty by the holder
// (E.164 phone or e-mail, e-mail lower-cased), LookupParty by anyone, PARTY_TAKEN, bad aliases,
// permissions; aliases never appear whole in error messages or logs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClearingService, ParticipantKind, ParticipantStatus } from "@clearmesh/contracts";
import { Code, errorInfo, errorReason } from "@clearmesh/runtime";
import { createTestDatabase, type TestDatabase } from "@clearmesh/store";
import { createSigningKey, generateSeed } from "@clearmesh/trust";
import { maskAlias, normalizeAlias } from "../src/parties/service.js";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

const engines = [
  { name: "SQLite", database: async (): Promise<TestDatabase | undefined> => undefined },
  { name: "PostgreSQL", database: async (): Promise<TestDatabase | undefined> => createTestDatabase() },
];

type Client = ReturnType<typeof clientFor<typeof ClearingService>>;

async function outcomeOf(call: Promise<unknown>): Promise<{ code?: number; reason?: string; field?: string; message?: string }> {
  try {
    await call;
    return {};
  } catch (error) {
    return { code: (error as { code?: number }).code, reason: errorReason(error), field: errorInfo(error)?.metadata.field, message: (error as Error).message };
  }
}

const invalidAliases = [
  "", "15551234567", "+0155512345", "+12345", "+1234567890123456", "+1 555 123 4567", "+1555123456a",
  "alice", "alice@", "@example.com", "alice@example", "a b@example.com", "alice@@example.com", ".alice@example.com",
  "alice..b@example.com", "alice@-example.com", "alice@example..com", `${"a".repeat(65)}@example.com`, `a@${"b".repeat(250)}.com`,
];

describe("aliases", () => {
  it("accepts E.164 numbers and e-mail addresses, e-mail lower-cased", () => {
    expect(normalizeAlias("+15551234567")).toBe("+15551234567");
    expect(normalizeAlias("+4930123")).toBe("+4930123");
    expect(normalizeAlias("+123456789012345")).toBe("+123456789012345");
    expect(normalizeAlias("Alice.Smith+pay@Example.COM")).toBe("alice.smith+pay@example.com");
  });

  it.each(invalidAliases)("refuses %j naming the field, without echoing it", (alias) => {
    const outcome = (() => {
      try {
        normalizeAlias(alias);
        return undefined;
      } catch (error) {
        return error as Error;
      }
    })();
    expect(errorInfo(outcome)?.metadata.field).toBe("alias");
    if (alias.length > 3) expect(outcome?.message).not.toContain(alias);
  });

  it("masks aliases for logs", () => {
    expect(maskAlias("+15551234567")).toBe("+*******4567");
    expect(maskAlias("alice@example.com")).toBe("a***@example.com");
  });
});

describe.each(engines)("party lookup on $name", ({ database }) => {
  let mesh: TestMesh;
  let testDatabase: TestDatabase | undefined;
  let walletA: Client;
  let walletB: Client;
  let bankA: Client;

  beforeAll(async () => {
    testDatabase = await database();
    mesh = await startTestMesh({ clearingOnly: true, environment: testDatabase ? { STORE_URL: testDatabase.url } : {} });
    walletA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("wallet-a")!);
    walletB = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("wallet-b")!);
    bankA = clientFor(mesh, "clearing", ClearingService, mesh.keys.get("bank-a")!);
  }, 60_000);
  afterAll(async () => {
    await mesh?.stop();
    await testDatabase?.drop();
  });

  it("registers a phone number and any participant looks it up", async () => {
    const party = await walletA.registerParty({ alias: "+15551234567", participantId: "wallet-a" });
    expect(party).toMatchObject({ alias: "+15551234567", participantId: "wallet-a" });
    expect(party.createdAt).toBeDefined();
    expect(await bankA.lookupParty({ alias: "+15551234567" })).toEqual(party);
    expect(await walletB.lookupParty({ alias: "+15551234567" })).toEqual(party);
  });

  it("stores e-mail addresses lower-cased and finds them in any case", async () => {
    const party = await walletA.registerParty({ alias: "Alice@Example.COM", participantId: "wallet-a" });
    expect(party.alias).toBe("alice@example.com");
    expect(await bankA.lookupParty({ alias: "ALICE@example.com" })).toEqual(party);
  });

  it("answers the same registration again with the party as it is", async () => {
    const first = await walletB.registerParty({ alias: "bob@example.org", participantId: "wallet-b" });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await walletB.registerParty({ alias: "BOB@example.org", participantId: "wallet-b" })).toEqual(first);
    const racing = await Promise.all(Array.from({ length: 10 }, () => walletB.registerParty({ alias: "carol@example.org", participantId: "wallet-b" })));
    for (const party of racing) expect(party).toEqual(racing[0]);
  });

  it("refuses an alias another participant holds with PARTY_TAKEN, without echoing it", async () => {
    await walletA.registerParty({ alias: "dave@example.net", participantId: "wallet-a" });
    const outcome = await outcomeOf(walletB.registerParty({ alias: "Dave@example.net", participantId: "wallet-b" }));
    expect(outcome).toMatchObject({ code: Code.AlreadyExists, reason: "PARTY_TAKEN", field: "alias" });
    expect(outcome.message).not.toContain("dave");
    expect((await bankA.lookupParty({ alias: "dave@example.net" })).participantId).toBe("wallet-a");
  });

  it("answers PARTY_NOT_FOUND for an alias nobody holds", async () => {
    const outcome = await outcomeOf(bankA.lookupParty({ alias: "+447700900123" }));
    expect(outcome).toMatchObject({ code: Code.NotFound, reason: "PARTY_NOT_FOUND", field: "alias" });
    expect(outcome.message).not.toContain("7700900123");
  });

  it.each(invalidAliases)("refuses the alias %j on register and lookup", async (alias) => {
    expect(await outcomeOf(walletA.registerParty({ alias, participantId: "wallet-a" }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "alias" });
    expect(await outcomeOf(bankA.lookupParty({ alias }))).toMatchObject({ code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "alias" });
  });

  it("lets only the holder register its aliases", async () => {
    expect(await outcomeOf(walletA.registerParty({ alias: "+15550000001", participantId: "wallet-b" })))
      .toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", field: "participant_id" });
    expect(await outcomeOf(mesh.operator.registerParty({ alias: "+15550000001", participantId: "wallet-a" })))
      .toMatchObject({ code: Code.PermissionDenied, reason: "PERMISSION_DENIED", field: "participant_id" });
    expect((await outcomeOf(bankA.lookupParty({ alias: "+15550000001" }))).reason).toBe("PARTY_NOT_FOUND");
  });

  it("refuses registrations by a suspended participant", async () => {
    const key = createSigningKey("wallet-s", "wallet-s-1", generateSeed());
    await mesh.operator.registerParticipant({ participantId: "wallet-s", name: "Wallet S", kind: ParticipantKind.WALLET_PROVIDER, currencies: ["USD"], keys: [{ keyId: key.keyId, publicKey: key.publicKey }] });
    await mesh.operator.setParticipantStatus({ participantId: "wallet-s", status: ParticipantStatus.SUSPENDED, reason: "test" });
    const walletS = clientFor(mesh, "clearing", ClearingService, key);
    try {
      expect(await outcomeOf(walletS.registerParty({ alias: "erin@example.com", participantId: "wallet-s" })))
        .toMatchObject({ code: Code.FailedPrecondition, reason: "PARTICIPANT_INACTIVE", field: "participant_id" });
    } finally {
      walletS.close();
    }
  });
});
