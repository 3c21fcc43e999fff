// Clearing's settings: the common ones plus its own.
import { commonSettings, integerSetting, loadSettings, type Setting, type Settings } from "@clearmesh/runtime";
import { parseFeeSchedule, type FeeSchedule } from "./pricing/fees.js";

export function clearingSettingsSchema() {
  return {
    ...commonSettings("clearing"),
    feeSchedule: {
      env: "FEE_SCHEDULE",
      doc: "The hub's fees: a JSON array of {\"currency\", \"payer_kind\", \"fixed_minor\", \"basis_points\"} (\"*\" matches any); the first matching rule applies; half-up rounding.",
      fallback: "[]",
      parse: parseFeeSchedule,
    } satisfies Setting<FeeSchedule>,
    positionThresholdPercent: integerSetting("POSITION_THRESHOLD_PERCENT", "Share of the net debit cap at which position.threshold_crossed is sent.", 80, { min: 1, max: 100 }),
    maxTransferExpiryMs: integerSetting("MAX_TRANSFER_EXPIRY_MS", "Latest expiry a prepared transfer may ask for, from now (card authorizations hold for days).", 7 * 86_400_000, { min: 1_000, max: 30 * 86_400_000 }),
    expiryCheckMs: integerSetting("EXPIRY_CHECK_MS", "How often due prepared transfers are expired.", 100, { min: 10, max: 60_000 }),
    settlementWindowIntervalMs: integerSetting("SETTLEMENT_WINDOW_INTERVAL_MS", "Close the settlement window this often; 0 = only when the operator calls CloseSettlementWindow.", 0, { min: 0, max: 7 * 86_400_000 }),
    maxPendingOperations: integerSetting("MAX_PENDING_OPERATIONS", "Most operations waiting for their batch to be durable; beyond it calls get UNAVAILABLE.", 50_000, { min: 100, max: 10_000_000 }),
    answersPerTurn: integerSetting("ANSWERS_PER_TURN", "Most callers the engine answers in one turn of the event loop once their batch is durable; the rest in the next turns, in order (0: a batch's callers all at once). Node sends a turn's writes only when the turn ends, so in parts the first answers leave while the rest are built, and callers send their next calls meanwhile instead of in one burst (docs/performance.md).", 8, { min: 0, max: 100_000 }),
    quoteTtlMs: integerSetting("QUOTE_TTL_MS", "How long a quote (CreateQuote) binds: a transfer citing it after this gets QUOTE_EXPIRED.", 60_000, { min: 100, max: 86_400_000 }),
    leaderPollMs: integerSetting("LEADER_POLL_MS", "How often a standby instance tries to become the active one.", 1_000, { min: 100, max: 60_000 }),
  };
}

export type ClearingSettings = Settings<ReturnType<typeof clearingSettingsSchema>>;

export function loadClearingSettings(environment: Record<string, string | undefined> = process.env): ClearingSettings {
  return loadSettings(clearingSettingsSchema(), environment);
}
