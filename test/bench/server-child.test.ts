// bench/server-child.ts: which of the environment's settings a measured service is given (a
// bench:pairs variant, or a setting exported in the shell).
import { describe, expect, it } from "vitest";
import { clearingSettingsSchema } from "@clearmesh/clearing";
import { settingsFromEnvironment } from "../../bench/server-child.js";

describe("settingsFromEnvironment", () => {
  it("takes the service's own settings that are set, and nothing else", () => {
    const found = settingsFromEnvironment(clearingSettingsSchema(), {
      ANSWERS_PER_TURN: "0", SIGNATURE_VERIFICATION: "event-loop", STORE_URL: "", BENCH_DURATION_S: "5", PATH: "/usr/bin", UNRELATED: "x",
    });
    expect(found).toEqual({ ANSWERS_PER_TURN: "0", SIGNATURE_VERIFICATION: "event-loop" });
  });

  it("takes nothing from an environment without the service's settings", () => {
    expect(settingsFromEnvironment(clearingSettingsSchema(), { HOME: "/root" })).toEqual({});
  });
});
