// Composition root of the notifier process.
import { runServiceProcess } from "@clearmesh/runtime";
import { startNotifier } from "./service.js";
import { loadNotifierSettings } from "./settings.js";

await runServiceProcess(() => startNotifier(loadNotifierSettings()));
