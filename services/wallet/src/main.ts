// Composition root of the wallet process.
import { runServiceProcess } from "@clearmesh/runtime";
import { startWallet } from "./service.js";
import { loadWalletSettings } from "./settings.js";

await runServiceProcess(() => startWallet(loadWalletSettings()));
