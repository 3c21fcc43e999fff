// Composition root of the bank-adapter process.
import { runServiceProcess } from "@clearmesh/runtime";
import { startBankAdapter } from "./service.js";
import { loadBankAdapterSettings } from "./settings.js";

await runServiceProcess(() => startBankAdapter(loadBankAdapterSettings()));
