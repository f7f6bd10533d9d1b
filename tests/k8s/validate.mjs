// Validates a YAML stream of Kubernetes objects (vigilctl export kubernetes)
// against the Kubernetes OpenAPI schemas that the npm package
// kubernetes-models compiles, and refuses fields no schema has: those
// schemas allow unknown properties, which the API server would drop (or,
// with kubectl's strict field validation, refuse), so a misspelt field
// would otherwise pass. Unknown fields are found by validating a proxy of
// each object that records which properties the schema's validator reads.
//
//   node validate.mjs FILE.yaml...      one line per object, exit 1 on any error
//   node validate.mjs --self-test       the checker catches what it must
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import yaml from "js-yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const models = path.join(here, "node_modules", "kubernetes-models");

// The kinds the export makes: apiVersion/kind → kubernetes-models' schema module.
const schemas = {
  "apps/v1/Deployment": "IoK8sApiAppsV1Deployment",
  "apps/v1/StatefulSet": "IoK8sApiAppsV1StatefulSet",
  "v1/Service": "IoK8sApiCoreV1Service",
  "networking.k8s.io/v1/Ingress": "IoK8sApiNetworkingV1Ingress",
  "policy/v1/PodDisruptionBudget": "IoK8sApiPolicyV1PodDisruptionBudget",
};

async function validatorFor(obj) {
  const name = schemas[`${obj.apiVersion}/${obj.kind}`];
  if (!name) return null;
  const mod = await import(pathToFileURL(path.join(models, "_schemas", `${name}.mjs`)).href);
  return mod.validate;
}

// A deep copy behind proxies; `unread()` lists the properties of objects
// whose keys the validator neither read one by one nor enumerated.
function tracked(value, where, checks) {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return new Proxy(value.map((v, i) => tracked(v, `${where}/${i}`, checks)), {});
  const read = new Set();
  let enumerated = false;
  const copy = {};
  for (const [k, v] of Object.entries(value)) copy[k] = tracked(v, `${where}/${k}`, checks);
  checks.push(() => (enumerated ? [] : Object.keys(value).filter((k) => !read.has(k)).map((k) => `${where}/${k}`)));
  return new Proxy(copy, {
    get(t, k, r) { read.add(k); return Reflect.get(t, k, r); },
    has(t, k) { read.add(k); return Reflect.has(t, k); },
    ownKeys(t) { enumerated = true; return Reflect.ownKeys(t); },
  });
}

async function check(obj) {
  if (!obj || typeof obj !== "object" || !obj.apiVersion || !obj.kind) return ["not a Kubernetes object"];
  const validate = await validatorFor(obj);
  if (!validate) return [`no schema here for ${obj.apiVersion} ${obj.kind}`];
  const problems = [];
  if (!validate(obj)) for (const e of validate.errors) problems.push(`${e.instancePath || "/"}: ${e.message || e.keyword} ${JSON.stringify(e.params)}`);
  const checks = [];
  validate(tracked(obj, "", checks));
  for (const c of checks) for (const p of c()) problems.push(`${p}: unknown field`);
  // What the schema cannot say but the API server checks.
  const name = obj.metadata && obj.metadata.name;
  if (typeof name !== "string" || !/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/.test(name)) problems.push(`/metadata/name: '${name}' is not a DNS-1035 label`);
  return problems;
}

async function checkStream(text, label) {
  let docs;
  try {
    docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    console.log(`FAIL ${label}: not YAML: ${e.message}`);
    return { objects: 0, failed: 1 };
  }
  let failed = docs.length === 0 ? 1 : 0;  // an export always has objects
  const kinds = {};
  for (const obj of docs) {
    const problems = await check(obj);
    const id = `${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
    kinds[obj && obj.kind] = (kinds[obj && obj.kind] || 0) + 1;
    if (problems.length) {
      failed++;
      console.log(`FAIL ${label} ${id}`);
      for (const p of problems) console.log(`    ${p}`);
    }
  }
  console.log(`${failed ? "FAIL" : "ok"} ${label}: ${docs.length} objects ${JSON.stringify(kinds)}`);
  return { objects: docs.length, failed };
}

async function selfTest() {
  const good = {
    apiVersion: "v1", kind: "Service", metadata: { name: "web", labels: { a: "b" } },
    spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: "serve" }] },
  };
  const cases = [
    [good, 0],
    [{ ...good, spec: { ...good.spec, prots: [] } }, 1],                          // misspelt field
    [{ ...good, spec: { ...good.spec, ports: [{ port: "80" }] } }, 1],           // wrong type
    [{ ...good, metadata: { name: "Web_1" } }, 1],                                // bad name
    [{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" } }, 0],
    [{ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "x" }, spec: { replicas: 1 } }, 1], // no selector/template
  ];
  let bad = 0;
  for (const [obj, wantErrors] of cases) {
    const problems = await check(obj);
    if ((problems.length > 0) !== (wantErrors > 0)) {
      bad++;
      console.log(`self-test FAIL: ${JSON.stringify(obj)} gave ${JSON.stringify(problems)}`);
    }
  }
  console.log(bad ? "self-test FAIL" : `self-test ok (${cases.length} cases)`);
  return bad === 0;
}

const args = process.argv.slice(2);
if (args[0] === "--self-test") process.exit((await selfTest()) ? 0 : 1);
let failed = 0;
for (const file of args) failed += (await checkStream(fs.readFileSync(file, "utf8"), file)).failed;
process.exit(failed ? 1 : 0);
