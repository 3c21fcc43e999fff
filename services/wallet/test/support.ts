// A mesh for wallet tests: clearing (from test/support/mesh.ts) plus wallet processes started in
// this process with fast settings (cheap scrypt, short timeouts), unsigned user clients, and the
// helpers every wallet test needs: register and log in, fund a user through a bank's push
// payment to their alias, read balances, stop and restart clearing on the same data folder.
import { ClearingService, WalletService, type Money } from "@clearmesh/contracts";
import { createLogger, createSignedClient, loadSettings, type RunningService, type SignedClient } from "@clearmesh/runtime";
import { clearingSettingsSchema, startClearing } from "@clearmesh/clearing";
import { startWallet, walletSettingsSchema, type WalletOptions } from "@clearmesh/wallet";
import { clientFor, startTestMesh, type TestMesh } from "../../../test/support/mesh.js";

export type WalletClient = SignedClient<typeof WalletService>;
export type ClearingClient = SignedClient<typeof ClearingService>;

/** USD: wallet providers pay 10 + 1 %, banks nothing (so funding amounts arrive whole). */
export const FEE_SCHEDULE = '[{"currency":"USD","payer_kind":"WALLET_PROVIDER","fixed_minor":"10","basis_points":"100"}]';
export const LIQUIDITY: Record<string, bigint> = { "bank-a": 10_000_000n, "wallet-a": 1_000_000n, "wallet-b": 1_000_000n };

export const FAST_WALLET_ENVIRONMENT: Record<string, string> = {
  PASSWORD_SCRYPT_COST: "1024", RECONCILE_INTERVAL_MS: "100", HOLD_TIMEOUT_MS: "1500", CLEARING_CALL_DEADLINE_MS: "3000",
};

export interface WalletMesh {
  mesh: TestMesh;
  wallets: RunningService[];
  /** Unsigned user clients, one per wallet process. */
  clients: WalletClient[];
  bank: ClearingClient;
  clearingAs(participantId: string): ClearingClient;
  walletEnvironment: Record<string, string>;
  startExtraWallet(environment?: Record<string, string>, options?: WalletOptions): Promise<{ wallet: RunningService; client: WalletClient }>;
  stopClearing(): Promise<void>;
  restartClearing(): Promise<void>;
  stop(): Promise<void>;
}

export async function startWalletMesh(options: { walletEnvironment?: Record<string, string>; wallets?: number; walletOptions?: (walletMesh: { mesh: TestMesh; clearingAddress: string }) => WalletOptions } = {}): Promise<WalletMesh> {
  const mesh = await startTestMesh({ clearingOnly: true, environment: { FEE_SCHEDULE } });
  const clearingPort = mesh.services.clearing.grpcPort;
  const walletEnvironment = { ...mesh.environment, ...FAST_WALLET_ENVIRONMENT, CLEARING_ADDRESS: `127.0.0.1:${clearingPort}`, ...options.walletEnvironment };
  for (const [participantId, amountMinor] of Object.entries(LIQUIDITY)) {
    await mesh.operator.depositLiquidity({ requestId: `fund-${participantId}`, participantId, amount: { currency: "USD", amountMinor } });
    await mesh.operator.setNetDebitCap({ requestId: `cap-${participantId}`, participantId, cap: { currency: "USD", amountMinor } });
  }
  const wallets: RunningService[] = [];
  const clients: WalletClient[] = [];
  const extra: Array<{ wallet: RunningService; client: WalletClient }> = [];
  const logger = () => createLogger({ service: "wallet", level: process.env.CLEARMESH_TEST_LOG_LEVEL ?? "silent" });
  const start = async (environment: Record<string, string>, walletOptions: WalletOptions = {}) => {
    const wallet = await startWallet(loadSettings(walletSettingsSchema(), environment), { logger: logger(), ...walletOptions });
    await wallet.ready;
    return { wallet, client: createSignedClient(WalletService, { address: `127.0.0.1:${wallet.grpcPort}` }) };
  };
  const clearingClients: ClearingClient[] = [];
  const clearingAs = (participantId: string) => {
    const client = clientFor(mesh, "clearing", ClearingService, mesh.keys.get(participantId)!);
    clearingClients.push(client);
    return client;
  };
  try {
    for (let index = 0; index < (options.wallets ?? 1); index += 1) {
      const started = await start(walletEnvironment, index === 0 ? options.walletOptions?.({ mesh, clearingAddress: walletEnvironment.CLEARING_ADDRESS }) : {});
      wallets.push(started.wallet);
      clients.push(started.client);
    }
  } catch (error) {
    await mesh.stop();
    throw error;
  }
  const clearingEnvironment = { ...mesh.environment, FEE_SCHEDULE, GRPC_PORT: String(clearingPort) };
  return {
    mesh, wallets, clients, walletEnvironment, clearingAs,
    bank: clearingAs("bank-a"),
    async startExtraWallet(environment = {}, walletOptions = {}) {
      const started = await start({ ...walletEnvironment, ...environment }, walletOptions);
      extra.push(started);
      return started;
    },
    async stopClearing() {
      await mesh.services.clearing.stop();
    },
    async restartClearing() {
      mesh.services.clearing = await startClearing(loadSettings(clearingSettingsSchema(), clearingEnvironment), { logger: createLogger({ service: "clearing", level: "silent" }) });
      await mesh.services.clearing.ready;
    },
    async stop() {
      for (const client of [...clients, ...extra.map((entry) => entry.client), ...clearingClients]) client.close();
      for (const entry of extra.reverse()) await entry.wallet.stop();
      for (const wallet of wallets.reverse()) await wallet.stop();
      await mesh.stop();
    },
  };
}

export const bearer = (token: string) => ({ metadata: { authorization: `Bearer ${token}` } });

export interface TestUser {
  email: string;
  phone: string;
  displayName: string;
  password: string;
  providerId: string;
  userId: string;
  token: string;
}

let sequence = 0;
/** A unique user: e-mail, E.164 phone and a password not on the common list. */
export function newUserDetails(providerId = "wallet-a", label = "user") {
  sequence += 1;
  const unique = `${Date.now().toString(36)}${sequence}${Math.floor(Math.random() * 1e6)}`;
  return {
    email: `${label}.${unique}@example.com`,
    phone: `+1555${String(1_000_000 + Math.floor(Math.random() * 8_999_999)).slice(0, 7)}`,
    displayName: `${label} ${unique}`,
    password: `correct horse ${unique} staple`,
    providerId,
  };
}

export async function registerAndLogin(client: WalletClient, providerId = "wallet-a", label = "user"): Promise<TestUser> {
  const details = newUserDetails(providerId, label);
  const user = await client.registerUser(details, { metadata: { "x-client-id": `test-${details.email}` } });
  const login = await client.login({ email: details.email, password: details.password, providerId });
  return { ...details, userId: user.userId, token: login.sessionToken };
}

/** Pays `amountMinor` USD from bank-a to the provider with the alias as payee_reference, and waits for the credit. */
export async function fundUser(walletMesh: WalletMesh, client: WalletClient, user: TestUser, amountMinor: bigint, transferId: string): Promise<void> {
  const before = await available(client, user);
  await walletMesh.bank.createTransfer({
    transferId, payerId: "bank-a", payeeId: user.providerId, amount: { currency: "USD", amountMinor }, payeeReference: user.email,
  });
  await waitFor(async () => (await available(client, user)) === before + amountMinor, `credit of ${transferId}`);
}

/** The user's available USD balance. */
export async function available(client: WalletClient, user: TestUser, currency = "USD"): Promise<bigint> {
  const balances = await client.getBalances({}, bearer(user.token));
  return balances.balances.find((money: Money) => money.currency === currency)?.amountMinor ?? 0n;
}

export async function waitFor(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function outcomeOf(call: Promise<unknown>): Promise<{ code?: number; reason?: string; message?: string; field?: string }> {
  const { errorInfo } = await import("@clearmesh/runtime");
  try {
    await call;
    return {};
  } catch (error) {
    const info = errorInfo(error);
    return { code: (error as { code?: number }).code, reason: info?.reason, field: info?.metadata.field, message: (error as { details?: string }).details ?? (error as Error).message };
  }
}
