// Composition root of the e-commerce-connector process.
import { runServiceProcess } from "@clearmesh/runtime";
import { startCommerceConnector } from "./service.js";
import { loadCommerceConnectorSettings } from "./settings.js";

await runServiceProcess(() => startCommerceConnector(loadCommerceConnectorSettings()));
