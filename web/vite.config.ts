/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// The console talks to the gateway on the same origin; in `npm run dev` the
// API paths are proxied to a local `eventflow dev`.
const gateway = process.env.EVENTFLOW_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      "/v1": { target: gateway, changeOrigin: false },
      "/auth": { target: gateway, changeOrigin: false },
      "/openapi.json": { target: gateway, changeOrigin: false },
      // Function routes, so the route URL the console shows works in development too.
      "/fn/": { target: gateway, changeOrigin: false },
      "/async-fn/": { target: gateway, changeOrigin: false },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
  },
});
