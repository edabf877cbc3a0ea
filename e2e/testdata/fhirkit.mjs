// fhirkit.mjs reads and writes through a node's FHIR API with
// fhir-kit-client, a FHIR client not written for ptoy: once as a
// practitioner signed in to a SMART app (authorization code + PKCE), once
// as a backend service (client_credentials with a private_key_jwt).
//
// Usage: node fhirkit.mjs CONFIG.json, run with its working directory in
// tools/npm (where npm installed fhir-kit-client). CONFIG holds:
//   base      the FHIR base
//   patient   the patient's id (launch/patient, search, writes)
//   session   a PTOY-Session token of the practitioner (signs /authorize)
//   app       {client_id, redirect_uri, scope}
//   backend   {client_id, kid, key_pem (PKCS#8, P-384), scope}
// It prints one JSON line of what each step got; on an error it prints
// the error (and the server's answer) to stderr and exits 1.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { Client } from 'fhir-kit-client';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const b64url = (buf) => Buffer.from(buf).toString('base64url');

function fail(step, detail) {
  const e = new Error(`${step}: ${detail}`);
  e.step = step;
  throw e;
}

async function form(url, params) {
  const resp = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(params).toString(),
  });
  const text = await resp.text();
  if (!resp.ok) fail('token', `${resp.status} ${text}`);
  return JSON.parse(text);
}

// discover reads the SMART configuration both ways fhir-kit-client knows.
async function discover() {
  const anon = new Client({ baseUrl: cfg.base });
  const cap = await anon.capabilityStatement();
  const meta = await anon.smartAuthMetadata();
  const wk = await (await fetch(`${cfg.base}/.well-known/smart-configuration`)).json();
  return {
    out: {
      fhirVersion: cap.fhirVersion,
      capabilityType: cap.resourceType,
      authorizeUrl: String(meta.authorizeUrl ?? ''),
      tokenUrl: String(meta.tokenUrl ?? ''),
      wellKnownToken: wk.token_endpoint,
      capabilities: wk.capabilities ?? [],
      authMethods: wk.token_endpoint_auth_methods_supported ?? [],
    },
    authorize: String(meta.authorizeUrl ?? wk.authorization_endpoint),
    token: String(meta.tokenUrl ?? wk.token_endpoint),
  };
}

// practitionerToken signs the practitioner in to the app: PKCE S256,
// /authorize signed by their session, /token with the verifier.
async function practitionerToken(smart) {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  const state = b64url(crypto.randomBytes(12));
  const u = new URL(smart.authorize);
  u.search = new URLSearchParams({
    response_type: 'code',
    client_id: cfg.app.client_id,
    redirect_uri: cfg.app.redirect_uri,
    scope: cfg.app.scope,
    state,
    aud: cfg.base,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    patient: cfg.patient,
  }).toString();
  const resp = await fetch(u, { redirect: 'manual', headers: { authorization: `PTOY-Session ${cfg.session}` } });
  const loc = resp.headers.get('location');
  if (!loc) fail('authorize', `${resp.status} without a redirect: ${await resp.text()}`);
  const back = new URL(loc);
  if (back.searchParams.get('error')) fail('authorize', `${resp.status} ${loc}`);
  if (`${back.origin}${back.pathname}` !== cfg.app.redirect_uri) fail('authorize', `redirected to ${loc}`);
  if (back.searchParams.get('state') !== state) fail('authorize', `state ${back.searchParams.get('state')} is not ${state}`);
  const code = back.searchParams.get('code');
  const tok = await form(smart.token, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: cfg.app.redirect_uri,
    client_id: cfg.app.client_id,
    code_verifier: verifier,
  });
  let fhirUser = '';
  if (tok.id_token) {
    const claims = JSON.parse(Buffer.from(tok.id_token.split('.')[1], 'base64url').toString());
    fhirUser = claims.fhirUser ?? '';
  }
  // The code is single use.
  const again = await fetch(smart.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: cfg.app.redirect_uri,
      client_id: cfg.app.client_id, code_verifier: verifier }).toString(),
  });
  return {
    token: tok.access_token,
    refreshToken: tok.refresh_token,
    out: {
      authorizeStatus: resp.status,
      tokenType: tok.token_type,
      scope: tok.scope,
      patient: tok.patient ?? '',
      fhirUser,
      refresh: Boolean(tok.refresh_token),
      codeReuseStatus: again.status,
    },
  };
}

// refresh trades the app's refresh token for a new access token, uses
// it, and tries the spent refresh token again.
async function refresh(smart, refreshToken) {
  const params = { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: cfg.app.client_id };
  const tok = await form(smart.token, params);
  const client = new Client({ baseUrl: cfg.base, bearerToken: tok.access_token });
  const count = await client.search({ resourceType: 'Encounter', searchParams: { patient: cfg.patient, _summary: 'count' } });
  const again = await fetch(smart.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return {
    scope: tok.scope,
    patient: tok.patient ?? '',
    rotated: Boolean(tok.refresh_token) && tok.refresh_token !== refreshToken,
    encounters: count.total,
    reuseStatus: again.status,
  };
}

// backendToken gets a token for the backend service with a client
// assertion (RFC 7523) signed ES384 by its key.
async function backendToken(smart) {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'ES384', typ: 'JWT', kid: cfg.backend.kid };
  const claims = { iss: cfg.backend.client_id, sub: cfg.backend.client_id, aud: smart.token, exp: now + 240,
    jti: b64url(crypto.randomBytes(16)) };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const sig = crypto.sign('sha384', Buffer.from(input), { key: cfg.backend.key_pem, dsaEncoding: 'ieee-p1363' });
  const assertion = `${input}.${b64url(sig)}`;
  const params = {
    grant_type: 'client_credentials',
    scope: cfg.backend.scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion,
  };
  const tok = await form(smart.token, params);
  // The same assertion (its jti) is refused a second time.
  const again = await fetch(smart.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  return {
    token: tok.access_token,
    out: { tokenType: tok.token_type, scope: tok.scope, refresh: Boolean(tok.refresh_token), replayStatus: again.status },
  };
}

// reads runs the same reads and writes with a bearer token.
async function reads(token) {
  const client = new Client({ baseUrl: cfg.base, bearerToken: token });
  const out = {};
  const cap = await client.capabilityStatement();
  out.fhirVersion = cap.fhirVersion;

  // Search with a page size small enough that paging happens, and follow
  // next to the end.
  let page = await client.search({ resourceType: 'Observation', searchParams: { patient: cfg.patient, _count: 10 } });
  out.total = page.total;
  out.pages = 0;
  out.got = 0;
  const ids = new Set();
  let first;
  while (page) {
    out.pages++;
    for (const e of page.entry ?? []) {
      if (e.resource?.resourceType !== 'Observation') continue;
      first ??= e.resource;
      out.got++;
      ids.add(e.resource.id);
    }
    if (out.pages > 100) fail('search', 'more than 100 pages');
    page = await client.nextPage({ bundle: page });
  }
  out.distinct = ids.size;
  if (!first) fail('search', 'no Observation');

  const read = await client.read({ resourceType: 'Observation', id: first.id });
  out.read = { id: read.id, versionId: read.meta?.versionId ?? '', subject: read.subject?.reference ?? '' };
  const v = await client.vread({ resourceType: 'Observation', id: first.id, version: read.meta.versionId });
  out.vread = { id: v.id, versionId: v.meta?.versionId ?? '' };
  const h = await client.history({ resourceType: 'Observation', id: first.id });
  out.history = { type: h.type, entries: (h.entry ?? []).length };

  // A transaction: an Encounter and an Observation that refers to it by
  // its urn:uuid, then both read back.
  const encUrn = `urn:uuid:${crypto.randomUUID()}`;
  const obsUrn = `urn:uuid:${crypto.randomUUID()}`;
  const subject = { reference: `Patient/${cfg.patient}` };
  const bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: encUrn,
        resource: {
          resourceType: 'Encounter',
          status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject,
          period: { start: '2026-03-02T09:00:00Z', end: '2026-03-02T09:30:00Z' },
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      {
        fullUrl: obsUrn,
        resource: {
          resourceType: 'Observation',
          status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
          subject,
          encounter: { reference: encUrn },
          effectiveDateTime: '2026-03-02T09:10:00Z',
          valueQuantity: { value: 72, unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
  const resp = await client.transaction({ body: bundle });
  const locs = (resp.entry ?? []).map((e) => e.response?.location ?? '');
  out.transaction = { type: resp.type, statuses: (resp.entry ?? []).map((e) => e.response?.status ?? ''), locations: locs };
  const [encType, encId] = locs[0].split('/');
  const [obsType, obsId] = locs[1].split('/');
  const enc = await client.read({ resourceType: encType, id: encId });
  const obs = await client.read({ resourceType: obsType, id: obsId });
  out.readBack = {
    encounter: `${enc.resourceType}/${enc.id}`,
    observation: `${obs.resourceType}/${obs.id}`,
    observationEncounter: obs.encounter?.reference ?? '',
    observationValue: obs.valueQuantity?.value ?? null,
  };

  // An update makes version 2; version 1 stays readable.
  obs.valueQuantity.value = 74;
  await client.update({ resourceType: 'Observation', id: obsId, body: obs });
  const now = await client.read({ resourceType: 'Observation', id: obsId });
  const was = await client.vread({ resourceType: 'Observation', id: obsId, version: '1' });
  const hist = await client.history({ resourceType: 'Observation', id: obsId });
  out.update = {
    versionId: now.meta?.versionId ?? '',
    value: now.valueQuantity?.value ?? null,
    v1Value: was.valueQuantity?.value ?? null,
    history: (hist.entry ?? []).map((e) => e.resource?.meta?.versionId ?? ''),
  };
  return out;
}

async function main() {
  const smart = await discover();
  const prac = await practitionerToken(smart);
  const pracReads = await reads(prac.token);
  pracReads.refreshed = await refresh(smart, prac.refreshToken);
  const be = await backendToken(smart);
  const beReads = await reads(be.token);
  process.stdout.write(`${JSON.stringify({
    discovery: smart.out,
    practitioner: { ...prac.out, ...pracReads },
    backend: { ...be.out, ...beReads },
  })}\n`);
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  if (err.response) process.stderr.write(`server answered ${err.response.status}: ${JSON.stringify(err.response.data)}\n`);
  if (err.config) process.stderr.write(`request: ${err.config.method} ${err.config.url}\n`);
  process.exit(1);
});
