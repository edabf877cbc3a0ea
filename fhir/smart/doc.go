// Package smart is the SMART on FHIR authorization server of a node:
// SMART App Launch 2.0 (standalone launch, authorization code with
// PKCE, refresh tokens, OpenID Connect id_tokens with fhirUser) and
// SMART Backend Services (client_credentials with a private_key_jwt
// assertion), the scopes they grant, and the registration of the apps
// and services an organisation allows.
package smart
