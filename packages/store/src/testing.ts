import { randomBytes } from "node:crypto";
import pg from "pg";

export interface TestDatabase {
  /** `postgres://…/<fresh database>` for openStore. */
  url: string;
  /** Ends other sessions on it and drops it; safe to call twice. */
  drop(): Promise<void>;
}

/**
 * Creates an empty PostgreSQL database with a random name for one test run. The server is
 * reached through its `postgres` database: CLEARMESH_TEST_PG_ADMIN_URL, or by default
 * postgres://postgres@127.0.0.1:5432/postgres (trust auth on the local test server).
 */
export async function createTestDatabase(adminUrl = defaultAdminUrl()): Promise<TestDatabase> {
  const name = `clearmesh_test_${randomBytes(6).toString("hex")}`;
  try {
    await withAdmin(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  } catch (error) {
    // Where, by host and port only: the URL may hold a password.
    let server = "the server CLEARMESH_TEST_PG_ADMIN_URL names";
    try {
      server = `the PostgreSQL server at ${new URL(adminUrl).host}`;
    } catch {
      // Not a URL: the server stays unnamed, and pg's own message below says what was wrong.
    }
    throw new Error(`cannot create a test database on ${server} (CLEARMESH_TEST_PG_ADMIN_URL; by default postgres@127.0.0.1:5432, trust auth): ${(error as Error).message}`, { cause: error });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    async drop() {
      if (dropped) return;
      dropped = true;
      await withAdmin(adminUrl, async (client) => {
        // Pools a test forgot to close would otherwise block DROP DATABASE.
        await client.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", [name]);
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}

function defaultAdminUrl(): string {
  return process.env["CLEARMESH_TEST_PG_ADMIN_URL"] ?? "postgres://postgres@127.0.0.1:5432/postgres";
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
