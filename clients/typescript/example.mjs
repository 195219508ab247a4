// Prints daned's verdict for a domain; exits 0 on DELIVER, 1 otherwise, 2
// when the call fails.
//
//   node clients/typescript/example.mjs example.com --server 127.0.0.1:8053

import { parseArgs } from "node:util";
import { Action, Policy, Reason, createDanedClient } from "./client.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    server: { type: "string", default: "127.0.0.1:8053" },
    "policy-only": { type: "boolean", default: false },
  },
});
if (positionals.length !== 1) {
  console.error("usage: node example.mjs DOMAIN [--server host:port] [--policy-only]");
  process.exit(2);
}
const [domain] = positionals;

const daned = createDanedClient(values.server);
let v;
try {
  v = await daned.validate({ domain, policyOnly: values["policy-only"] });
} catch (err) {
  console.error(`${domain}: ${err.message}`);
  process.exit(2);
}
console.log(`${v.domain}: ${Action[v.action]} ${v.statusCode}`.trimEnd());
console.log(`  policy: ${Policy[v.policy]}`);
console.log(`  reason: ${Reason[v.reason]}`);
if (v.statusText) console.log(`  why:    ${v.statusText}`);
for (const h of v.mxHosts) {
  console.log(`  MX ${h.preference} ${h.name}: ${Policy[h.hostPolicy]} ${Reason[h.reason]}`);
}
process.exit(v.action === Action.DELIVER ? 0 : 1);
