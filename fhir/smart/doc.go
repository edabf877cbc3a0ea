// Package smart is the SMART on FHIR authorization server of a node:
// SMART App Launch 2.0 for apps and SMART Backend Services for servers,
// the scopes they are granted, and the registration of the apps and
// services an organisation allows.
//
// # Endpoints
//
// The node mounts Handler under its FHIR base (Config.Issuer, such as
// https://host:port/fhir):
//
//	GET  /.well-known/smart-configuration   discovery (Configuration)
//	GET  /.well-known/jwks.json             the key that signs id_tokens (RS256)
//	GET|POST /authorize                     an app's authorization request
//	POST /token                             authorization_code, refresh_token, client_credentials
//	GET|POST /clients, DELETE /clients/{id} an organisation's apps and services (signed, Config.Admin)
//
// # Apps (standalone launch, public clients)
//
// An organisation registers an app with its exact redirect URIs and the
// most it may be granted. The app sends the person to /authorize with
// response_type=code, client_id, redirect_uri, scope, state, aud (the
// FHIR base) and PKCE (code_challenge_method=S256; plain is refused).
// The request must come signed by the person (Config.Authenticate: a
// ptoy request signature or session); the signed request is the
// approval, until the web app brings a consent page. A practitioner
// picks the patient of launch/patient with the ptoy parameter
// patient=<hex id>; a patient's context is always themselves. EHR
// launch (the launch parameter and scope) is not supported.
//
// The answer is a redirect with a code (single use, 60 s, bound to the
// client, the redirect URI and the challenge), or with error= (RFC 6749
// §4.1.2.1) once client and redirect URI are known good; before that,
// and for a request nobody signed, the answer is JSON with status 400 or
// 401. /token exchanges the code and its code_verifier for an access
// token, the patient context, an id_token with fhirUser (openid
// fhirUser) and a refresh token (offline_access or online_access).
// Refresh tokens rotate: each is used once and the new answer carries
// the next one.
//
// What is granted: the scopes asked, narrowed to what the app may have;
// patient/ scopes only with a patient context, user/ scopes only to a
// practitioner, system/ scopes never to an app. A practitioner who asks
// both for a patient they picked gets the user/ ones (what they may see);
// with patient/ scopes alone they read and write that patient's records
// only. Scopes this server does
// not know (granular scopes with a query among them) are never granted;
// the scope of the answer says what was.
//
// # Backend services
//
// An organisation registers a service with its public keys (a JWK Set
// of RSA ≥ 2048 or ECDSA P-384 keys, each with a kid). The service asks
// /token for client_credentials with a client assertion (RFC 7523):
// a JWT signed RS384 or ES384 by one of its keys (kid), iss = sub = its
// client id, aud = the token endpoint, exp at most five minutes ahead and
// a jti used once (the server remembers it until its exp). Every
// failure is invalid_client. The token stands for the organisation
// (Grant.Kind KindSystem) with the system/ scopes asked (or all it may
// have), no refresh token.
//
// # Tokens
//
// Access tokens are opaque random strings, kept hashed in memory for
// AccessTTL (5 minutes by default): a node restart signs every app out.
// Refresh tokens are kept hashed in Pebble for RefreshTTL (24 hours),
// clients in Pebble; expired entries are collected as new ones are made.
// Removing a client ends its tokens. The FHIR server calls Verify on
// every request, then decides with Grant.Scopes.Allows and consent.
package smart
