// `npm run demo` / `clearmesh demo`: the whole mesh at work against a running `npm start`, with
// the keys in <data>/keys and the ports of `npm start` (the same <SERVICE>_GRPC_PORT overrides).
// Every id, e-mail and alias carries a run id, so the demo runs again on the same mesh. It ends
// with a table of positions, settlement balances and user balances, and reconciliation checks:
// exit code 0 only when every check holds.
import { randomBytes, randomInt } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import {
  BankAccountState, BankAdapterService, CaptureMethod, ClearingService, CommerceService, PaymentIntentState, RefundState, SettlementWindowState, WalletService,
  WalletTransactionState, type SettlementWindow,
} from "@clearmesh/contracts";
import { DEFAULT_PORTS, createSignedClient, errorReason, type ServiceName, type SignedClient } from "@clearmesh/runtime";
import { createSigningKey, generateSeed, type SigningKey } from "@clearmesh/trust";
import { loadSigner, readPublicKey } from "./keys.js";
import { formatMinor, money, table } from "./demo/format.js";
import { findMandateCode, sinkMessages } from "./demo/sinks.js";
import { totpFromUri } from "./demo/totp.js";

const CURRENCY = "USD";
const usd = (amountMinor: bigint) => ({ currency: CURRENCY, amountMinor });
const FUNDED = ["bank-a", "bank-b", "wallet-a", "wallet-b", "acquirer-a"] as const;
const MEMBERS = [...FUNDED, "operator"] as const;
const LIQUIDITY = 1_000_000_00n;
const CAP = 500_000_00n;
const DEPOSIT = 2_000_00n;
const TOP_UP = 500_00n;
const SEND = 120_00n;
const WALLET_PAY = 45_50n;
const CARD_AUTH = 80_00n;
const CARD_CAPTURE = 60_00n;
const REFUND = 15_25n;
const STEP_TIMEOUT_MS = 30_000;

export interface DemoOptions {
  dataDir: string;
  environment?: Record<string, string | undefined>;
  out?: (line: string) => void;
}

/** The gRPC port of a service as `npm start` uses it: <SERVICE>_GRPC_PORT, else the default. */
function grpcAddress(service: ServiceName, environment: Record<string, string | undefined>): string {
  const variable = `${service.toUpperCase().replaceAll("-", "_")}_GRPC_PORT`;
  return `127.0.0.1:${Number(environment[variable] ?? DEFAULT_PORTS[service].grpc)}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface Check { name: string; ok: boolean; detail: string }

export async function runDemo(options: DemoOptions): Promise<number> {
  const environment = options.environment ?? process.env;
  const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const dataDir = options.dataDir;
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString("hex")}`;
  const step = (title: string) => out(`\n== ${title}`);
  const say = (line: string) => out(`   ${line}`);

  const clients: Array<{ close(): void }> = [];
  const serviceKeys = new Map<string, Uint8Array>();
  const responseKey = (service: ServiceName) => {
    if (!serviceKeys.has(service)) serviceKeys.set(service, readPublicKey(dataDir, service, "run the demo with the data folder of `npm start` (--data-dir)"));
    return serviceKeys.get(service)!;
  };
  const clientOf = <S extends DescService>(service: ServiceName, descriptor: S, signer?: SigningKey): SignedClient<S> => {
    const client = createSignedClient(descriptor, {
      address: grpcAddress(service, environment), defaultDeadlineMs: 20_000,
      ...(signer ? { signer, expectedResponder: service, responseKeys: (participantId: string) => (participantId === service ? responseKey(service) : undefined) } : {}),
    });
    clients.push(client);
    return client;
  };
  const signers = new Map<string, SigningKey>();
  const as = (participantId: string) => {
    if (!signers.has(participantId)) signers.set(participantId, loadSigner(dataDir, participantId));
    return signers.get(participantId)!;
  };

  // The merchant's webhook endpoint: accepts every webhook (the connector signs them) and counts them.
  const webhooks: string[] = [];
  const webhookServer = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      try {
        webhooks.push(String((JSON.parse(Buffer.concat(chunks).toString("utf8")) as { type?: string }).type ?? "?"));
      } catch {
        webhooks.push("?");
      }
      response.writeHead(200).end("ok");
    });
  });

  try {
    out(`clearmesh demo — run ${runId}, data folder ${dataDir}, clearing at ${grpcAddress("clearing", environment)}`);
    const operator = clientOf("clearing", ClearingService, as("operator"));
    const position = async (participantId: string) => operator.getPosition({ participantId, currency: CURRENCY });
    try {
      await operator.getPosition({ participantId: "operator", currency: CURRENCY });
    } catch (error) {
      throw new Error(`cannot reach the mesh (${(error as Error).message}); start it first with \`npm start\` in another terminal`);
    }

    // 1. Liquidity and caps.
    step("1. The operator gives the banks, wallet providers and the acquirer liquidity and net debit caps");
    for (const participantId of FUNDED) {
      await operator.depositLiquidity({ requestId: `demo-${runId}-fund-${participantId}`, participantId, amount: usd(LIQUIDITY) });
      const current = await position(participantId);
      const cap = current.netDebitCapMinor > CAP ? current.netDebitCapMinor : CAP;
      await operator.setNetDebitCap({ requestId: `demo-${runId}-cap-${participantId}`, participantId, cap: usd(cap) });
      say(`${participantId.padEnd(10)} +${money(LIQUIDITY)} liquidity, cap ${money(cap)}`);
    }
    const start = Object.fromEntries(await Promise.all(MEMBERS.map(async (id) => [id, await position(id)] as const)));

    // 2. Users.
    step("2. Two users register: Ann at wallet-a (with TOTP), Ben at wallet-b");
    const wallet = clientOf("wallet", WalletService);
    const bearer = (token: string) => ({ metadata: { authorization: `Bearer ${token}` } });
    const phone = () => `+1555${String(randomInt(0, 10_000_000)).padStart(7, "0")}`;
    const ann = { email: `ann.${runId}@example.com`, phone: phone(), displayName: `Ann ${runId}`, password: `ann demo password ${runId}`, providerId: "wallet-a" };
    const ben = { email: `ben.${runId}@example.com`, phone: phone(), displayName: `Ben ${runId}`, password: `ben demo password ${runId}`, providerId: "wallet-b" };
    const clientId = { metadata: { "x-client-id": `demo-${runId}` } };
    await wallet.registerUser(ann, clientId);
    await wallet.registerUser(ben, clientId);
    say(`registered ${ann.email} (${ann.phone}) at wallet-a and ${ben.email} (${ben.phone}) at wallet-b`);
    const firstLogin = await wallet.login({ email: ann.email, password: ann.password, providerId: "wallet-a" });
    const enrolled = await wallet.enrollTotp({}, bearer(firstLogin.sessionToken));
    say(`Ann enrolls TOTP: ${enrolled.otpauthUri.replace(/secret=[^&]+/, "secret=…")}`);
    await wallet.confirmTotp({ code: totpFromUri(enrolled.otpauthUri) }, bearer(firstLogin.sessionToken));
    say("Ann confirms TOTP with the code computed from the URI's secret (RFC 6238)");
    // A code is accepted once per 30-second step: the next step's code (one step ahead is allowed).
    const annLogin = await wallet.login({ email: ann.email, password: ann.password, providerId: "wallet-a", totpCode: totpFromUri(enrolled.otpauthUri, Date.now(), 1) });
    const benLogin = await wallet.login({ email: ben.email, password: ben.password, providerId: "wallet-b" });
    const annAuth = bearer(annLogin.sessionToken);
    const benAuth = bearer(benLogin.sessionToken);
    say("Ann logs in with password + TOTP code; Ben with his password");

    // 3. Bank account, mandate, top-up.
    step("3. Bank A opens an account for Ann; she links it under a mandate and tops up");
    const bankA = clientOf("bank-adapter", BankAdapterService, as("bank-a"));
    const account = await bankA.openAccount({ requestId: `demo-${runId}-open`, bankId: "bank-a", holderName: ann.displayName, currency: CURRENCY, holderEmail: ann.email, holderPhone: ann.phone });
    await bankA.depositCash({ requestId: `demo-${runId}-cash`, accountId: account.accountId, amount: usd(DEPOSIT) });
    say(`account ${account.maskedAccountNumber} opened at bank-a, cash deposit ${money(DEPOSIT)}`);
    const link = await wallet.linkBankAccount({
      requestId: `demo-${runId}-link`, bankId: "bank-a", accountId: account.accountId, perTransferLimit: usd(TOP_UP), dailyLimit: usd(TOP_UP * 2n),
    }, annAuth);
    say(`Ann asks wallet-a to link ${link.maskedAccountNumber}; the bank sends her a one-time code…`);
    const found = await waitFor("the mandate code in the SMS/mail sinks (<data>/sinks)", async () => findMandateCode(dataDir, ann));
    say(`caught by the local sink — ${found.via}`);
    const linked = await wallet.confirmBankAccount({ linkId: link.linkId, code: found.code }, annAuth);
    if (linked.state !== BankAccountState.ACTIVE) throw new Error(`the link is ${BankAccountState[linked.state]}, not ACTIVE`);
    say(`Ann types code ${found.code}: the link is ACTIVE`);
    const topUp = await wallet.topUp({ requestId: `demo-${runId}-topup`, linkId: link.linkId, amount: usd(TOP_UP) }, annAuth);
    await waitFor("the top-up", async () => ((await wallet.getTransaction({ transactionId: topUp.transactionId }, annAuth)).state === WalletTransactionState.COMPLETED ? true : undefined));
    say(`top-up of ${money(TOP_UP)} from bank-a completed`);

    // 4. P2P across providers.
    step("4. Ann sends money to Ben at the other provider, by his e-mail alias");
    const wa = clientOf("clearing", ClearingService, as("wallet-a"));
    await waitFor("Ben's alias in clearing's directory", async () => {
      try {
        await wa.lookupParty({ alias: ben.email });
        return true;
      } catch {
        return undefined;
      }
    });
    const sent = await wallet.sendMoney({ requestId: `demo-${runId}-send`, payee: ben.email, amount: usd(SEND) }, annAuth);
    if (sent.state !== WalletTransactionState.COMPLETED) throw new Error(`the transfer is ${WalletTransactionState[sent.state]}`);
    const sendFee = sent.fee?.amountMinor ?? 0n;
    const benBalance = async () => (await wallet.getBalances({}, benAuth)).balances.find((entry) => entry.currency === CURRENCY)?.amountMinor ?? 0n;
    await waitFor("Ben's credit", async () => ((await benBalance()) === SEND - sendFee ? true : undefined));
    say(`${money(SEND)} sent (hub fee ${money(sendFee)}); Ben received ${money(SEND - sendFee)}`);

    // 5. Merchant: wallet payment, card payment with manual partial capture, partial refund.
    step("5. A merchant is paid by wallet and by card, and refunds part of the card payment");
    const commerceOperator = clientOf("e-commerce-connector", CommerceService, as("operator"));
    await new Promise<void>((resolve) => webhookServer.listen(0, "127.0.0.1", resolve));
    const merchantId = `shop-${runId}`;
    const merchantKey = createSigningKey(merchantId, `${merchantId}-1`, generateSeed());
    await commerceOperator.registerMerchant({
      merchantId, name: `Demo shop ${runId}`, webhookUrl: `http://127.0.0.1:${(webhookServer.address() as AddressInfo).port}/hooks/${merchantId}`,
      keyId: merchantKey.keyId, publicKey: merchantKey.publicKey, acquirerId: "acquirer-a",
    });
    const merchant = clientOf("e-commerce-connector", CommerceService, merchantKey);
    say(`merchant ${merchantId} registered (acquirer-a)`);
    const walletIntent = await merchant.createPaymentIntent({
      paymentIntentId: `demo-${runId}-pi-wallet`, merchantId, amount: usd(WALLET_PAY), merchantReference: "order-1", description: "coffee beans", captureMethod: CaptureMethod.AUTOMATIC,
    });
    const paid = await wallet.payPaymentIntent({ requestId: `demo-${runId}-pay`, paymentIntentId: walletIntent.paymentIntentId }, annAuth);
    if (paid.state !== WalletTransactionState.COMPLETED) throw new Error(`the wallet payment is ${WalletTransactionState[paid.state]}`);
    const walletPaidState = (await merchant.getPaymentIntent({ paymentIntentId: walletIntent.paymentIntentId })).state;
    say(`Ann pays intent ${walletIntent.paymentIntentId} (${money(WALLET_PAY)}) with her wallet: ${PaymentIntentState[walletPaidState]}`);

    const card = await bankA.tokenizeCard({
      requestId: `demo-${runId}-card`, accountId: account.accountId, pan: luhnPan("4000"), expiryMonth: 12, expiryYear: new Date().getUTCFullYear() + 2, cardholderName: ann.displayName.toUpperCase(),
    });
    say(`bank-a issues a card on Ann's account: token ${card.cardToken.slice(0, 10)}…`);
    const cardIntent = await merchant.createPaymentIntent({
      paymentIntentId: `demo-${runId}-pi-card`, merchantId, amount: usd(CARD_AUTH), merchantReference: "order-2", description: "espresso machine", captureMethod: CaptureMethod.MANUAL,
    });
    const authorized = await merchant.confirmPaymentIntent({ paymentIntentId: cardIntent.paymentIntentId, paymentMethod: { case: "card", value: { cardToken: card.cardToken } } });
    say(`the merchant confirms ${cardIntent.paymentIntentId} with the card: ${PaymentIntentState[authorized.state]} for ${money(CARD_AUTH)}`);
    const captured = await merchant.capturePaymentIntent({ paymentIntentId: cardIntent.paymentIntentId, amount: usd(CARD_CAPTURE) });
    say(`partial capture of ${money(CARD_CAPTURE)}: ${PaymentIntentState[captured.state]} (the rest of the hold is released)`);
    const refund = await merchant.refundPaymentIntent({ refundId: `demo-${runId}-refund`, paymentIntentId: cardIntent.paymentIntentId, amount: usd(REFUND) });
    say(`partial refund of ${money(REFUND)}: ${RefundState[refund.state]}`);
    if (captured.state !== PaymentIntentState.SUCCEEDED || refund.state !== RefundState.SUCCEEDED) throw new Error("the card payment or its refund did not succeed");

    // 6. Settlement.
    step("6. The operator closes the settlement window; the settlement bank executes it");
    const beforeClose = Object.fromEntries(await Promise.all(MEMBERS.map(async (id) => [id, await position(id)] as const)));
    const closed = await operator.closeSettlementWindow({ requestId: `demo-${runId}-close` });
    say(`window ${closed.windowId} closed: ${SettlementWindowState[closed.state]}, nets ${closed.netPositions.filter((net) => net.currency === CURRENCY).map((net) => `${net.participantId} ${formatMinor(net.netMinor)}`).join(", ")}`);
    const settled: SettlementWindow = await waitFor("the window to be SETTLED", async () => {
      const window = await operator.getSettlementWindow({ windowId: closed.windowId });
      if (window.state === SettlementWindowState.FAILED) throw new Error(`settlement window ${closed.windowId} FAILED`);
      return window.state === SettlementWindowState.SETTLED ? window : undefined;
    });
    say(`window ${settled.windowId}: ${SettlementWindowState[settled.state]}`);
    const netOf = (participantId: string) => closed.netPositions.find((net) => net.participantId === participantId && net.currency === CURRENCY)?.netMinor ?? 0n;

    // 7. Notifications caught by the sinks.
    step("7. Notifications caught by the local sinks (<data>/sinks)");
    const mine = (text: string) => text.includes(ann.email) || text.includes(ben.email) || text.includes(ann.phone) || text.includes(ben.phone);
    await sleep(1_000);
    const { mails, sms } = await waitFor("this run's notifications", async () => {
      const caught = sinkMessages(dataDir);
      const ours = { mails: caught.mails.filter((mail) => mine(mail.to.join(","))), sms: caught.sms.filter((message) => mine(message.to)) };
      return ours.mails.length + ours.sms.length >= 2 ? ours : undefined;
    }, 10_000);
    say(`${mails.length} e-mail(s) and ${sms.length} SMS for this run's users:`);
    for (const mail of mails) say(`  mail to ${mail.to.join(", ")}: ${mail.subject}`);
    for (const message of sms) say(`  SMS  to ${message.to}: ${message.text}`);
    say(`${webhooks.length} signed webhook(s) reached the merchant: ${[...new Set(webhooks)].join(", ")}`);

    // 8. The table and the checks.
    step("8. Positions, settlement balances, user balances — and do they reconcile?");
    const bankOperator = clientOf("bank-adapter", BankAdapterService, as("operator"));
    const checks: Check[] = [];
    const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
    const rows: string[][] = [];
    let sumBefore = 0n;
    let sumAfter = 0n;
    for (const participantId of MEMBERS) {
      const after = await position(participantId);
      // A participant that never paid in (the operator without fees) has no settlement account: 0.
      const books = await bankOperator.getSettlementAccount({ participantId, currency: CURRENCY }).catch((error: unknown) => {
        if (errorReason(error) === "SETTLEMENT_ACCOUNT_NOT_FOUND") return { balanceMinor: 0n };
        throw error;
      });
      const net = netOf(participantId);
      const startBalance = beforeClose[participantId]!.settlementBalanceMinor;
      sumBefore += beforeClose[participantId]!.positionMinor;
      sumAfter += after.positionMinor;
      rows.push([participantId, formatMinor(beforeClose[participantId]!.positionMinor - start[participantId]!.positionMinor), formatMinor(net), formatMinor(startBalance), formatMinor(after.settlementBalanceMinor), formatMinor(books.balanceMinor)]);
      check(`${participantId}: settlement balance = start − net`, after.settlementBalanceMinor === startBalance - net, `${formatMinor(startBalance)} − (${formatMinor(net)}) = ${formatMinor(after.settlementBalanceMinor)}`);
      check(`${participantId}: settlement bank agrees`, books.balanceMinor === after.settlementBalanceMinor, `bank ${formatMinor(books.balanceMinor)}, clearing ${formatMinor(after.settlementBalanceMinor)}`);
      check(`${participantId}: position after settlement = before − net`, after.positionMinor === beforeClose[participantId]!.positionMinor - net, formatMinor(after.positionMinor));
    }
    for (const line of table(["participant", "this run's position", "net settled", "settlement before", "settlement after", "settlement bank"], rows)) say(line);
    check("clearing positions sum to zero (before settlement)", sumBefore === 0n, formatMinor(sumBefore));
    check("clearing positions sum to zero (after settlement)", sumAfter === 0n, formatMinor(sumAfter));

    const balanceOf = async (auth: ReturnType<typeof bearer>) => (await wallet.getBalances({}, auth)).balances.find((entry) => entry.currency === CURRENCY)?.amountMinor ?? 0n;
    const annBalance = await balanceOf(annAuth);
    const benFinal = await balanceOf(benAuth);
    const bankAccount = await bankA.getAccount({ accountId: account.accountId });
    const accountBalance = bankAccount.balance?.amountMinor ?? 0n;
    const operatorFees = -(beforeClose.operator!.positionMinor - start.operator!.positionMinor);
    say("");
    for (const line of table(["user / account", "balance"], [
      [`Ann (wallet-a) ${ann.email}`, money(annBalance)],
      [`Ben (wallet-b) ${ben.email}`, money(benFinal)],
      [`Ann's account at bank-a ${bankAccount.maskedAccountNumber}`, money(accountBalance)],
      ["hub fees earned this run (operator)", money(operatorFees)],
    ])) say(line);
    check("Ann's wallet = top-up − sent − paid", annBalance === TOP_UP - SEND - WALLET_PAY, `${formatMinor(TOP_UP)} − ${formatMinor(SEND)} − ${formatMinor(WALLET_PAY)} = ${formatMinor(annBalance)}`);
    check("Ben's wallet + fee = what Ann sent", benFinal + sendFee === SEND, `${formatMinor(benFinal)} + ${formatMinor(sendFee)} = ${formatMinor(SEND)}`);
    const moved = (participantId: string) => beforeClose[participantId]!.positionMinor - start[participantId]!.positionMinor;
    check("Ann's wallet = what wallet-a received at clearing this run", annBalance === -moved("wallet-a"), `${formatMinor(annBalance)} vs ${formatMinor(-moved("wallet-a"))}`);
    check("Ben's wallet = what wallet-b received at clearing this run", benFinal === -moved("wallet-b"), `${formatMinor(benFinal)} vs ${formatMinor(-moved("wallet-b"))}`);
    check("bank account = deposit − top-up − card capture + refund", accountBalance === DEPOSIT - TOP_UP - CARD_CAPTURE + REFUND,
      `${formatMinor(DEPOSIT)} − ${formatMinor(TOP_UP)} − ${formatMinor(CARD_CAPTURE)} + ${formatMinor(REFUND)} = ${formatMinor(accountBalance)}`);
    check("no card hold left on the account", (bankAccount.held?.amountMinor ?? 0n) === 0n, formatMinor(bankAccount.held?.amountMinor ?? 0n));
    const walletOperator = clientOf("wallet", WalletService, as("operator"));
    for (const providerId of ["wallet-a", "wallet-b"]) {
      const books = await walletOperator.getProviderBooks({ providerId, currency: CURRENCY });
      check(`${providerId}: provider books balanced`, books.balanced, `user balances ${formatMinor(books.userBalances?.amountMinor ?? 0n)}, held ${formatMinor(books.held?.amountMinor ?? 0n)}, position ${formatMinor(books.clearingPositionMinor)}`);
    }
    check("the mandate code and other notifications were delivered", mails.length + sms.length >= 2, `${mails.length} mail, ${sms.length} SMS`);

    say("");
    say("checks:");
    for (const entry of checks) say(`  ${entry.ok ? "OK  " : "FAIL"} ${entry.name} (${entry.detail})`);
    const failed = checks.filter((entry) => !entry.ok);
    if (failed.length > 0) {
      out(`\nFAILED: ${failed.length} of ${checks.length} checks do not hold: ${failed.map((entry) => entry.name).join("; ")}`);
      return 1;
    }
    out(`\nALL ${checks.length} CHECKS OK — the mesh reconciles to the minor unit.`);
    return 0;
  } catch (error) {
    const reason = errorReason(error);
    out(`\nFAILED: ${(error as Error).message}${reason ? ` [${reason}]` : ""}`);
    return 1;
  } finally {
    for (const client of clients) client.close();
    webhookServer.closeAllConnections();
    await new Promise<void>((resolve) => (webhookServer.listening ? webhookServer.close(() => resolve()) : resolve()));
  }
}

/** A random 16-digit card number with a valid Luhn check digit. */
function luhnPan(prefix: string): string {
  let body = prefix;
  while (body.length < 15) body += String(randomInt(0, 10));
  let sum = 0;
  for (let index = 0; index < 15; index += 1) {
    let digit = Number(body[14 - index]);
    if (index % 2 === 0) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return body + String((10 - (sum % 10)) % 10);
}
