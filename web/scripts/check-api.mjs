// Fails when src/api/schema.ts is not what openapi-typescript generates from
// the gateway's OpenAPI document now: the typed client must not drift from
// the API (the flags must match the gen:api script). Fix with `npm run gen:api` and commit the result.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const spec = join(web, "../services/gateway/internal/api/openapi.json");
const committed = join(web, "src/api/schema.ts");
const dir = mkdtempSync(join(tmpdir(), "eventflow-api-"));
try {
  const fresh = join(dir, "schema.ts");
  execFileSync(join(web, "node_modules/.bin/openapi-typescript"), [spec, "--default-non-nullable", "false", "-o", fresh], { stdio: "pipe" });
  if (readFileSync(fresh, "utf8") !== readFileSync(committed, "utf8")) {
    console.error("check:api: src/api/schema.ts is out of date with openapi.json; run `npm run gen:api` and commit it.");
    process.exit(1);
  }
  console.log("check:api: src/api/schema.ts matches openapi.json");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
