// bench/server-child.ts: which of the environment's settings a measured service is given (a
// bench:pairs variant, or a setting exported in the shell).
import { describe, expect, it } from "vitest";
import { clearingSettingsSchema } from "@clearmesh/clearing";
import { serviceEnvironment, settingsFromEnvironment } from "../../bench/server-child.js";

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

  it("builds a measured service's environment: the environment's settings over the defaults, the harness's own over everything", () => {
    const environment = serviceEnvironment(clearingSettingsSchema(), { CLEARMESH_DATA_DIR: "/harness/data", NATS_URL: "nats://127.0.0.1:1" }, {
      LOG_LEVEL: "debug", ANSWERS_PER_TURN: "0", GRPC_PORT: "50051", CLEARMESH_DATA_DIR: "/somewhere/else", UNRELATED: "x",
    });
    expect(environment).toEqual({
      LOG_LEVEL: "debug", ANSWERS_PER_TURN: "0", GRPC_PORT: "0", HTTP_PORT: "0", SHUTDOWN_GRACE_MS: "2000",
      CLEARMESH_DATA_DIR: "/harness/data", NATS_URL: "nats://127.0.0.1:1",
    });
    expect(serviceEnvironment(clearingSettingsSchema(), {}, {}).LOG_LEVEL).toBe("warn");
  });
});
