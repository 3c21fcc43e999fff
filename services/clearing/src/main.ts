// Composition root of the clearing process.
import { runServiceProcess } from "@clearmesh/runtime";
import { startClearing } from "./service.js";
import { loadClearingSettings } from "./settings.js";

await runServiceProcess(() => startClearing(loadClearingSettings()));
