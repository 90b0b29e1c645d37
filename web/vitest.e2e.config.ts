import { defineConfig } from "vitest/config";

// The browser journey against a running `eventflow dev` (EVENTFLOW_URL).
// One file, run serially: it drives one browser and one server.
export default defineConfig({
  test: {
    environment: "node",
    include: ["e2e/**/*.e2e.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    reporters: ["verbose"],
  },
});
