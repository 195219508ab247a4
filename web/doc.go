// Package web is daned's diagnostics page for receiving admins and its
// JSON API: a front door, beside the gRPC server and the socketmap, on the
// same decision layer (cache.Validator), so that the page shows the very
// verdict the fleet acts on.
//
// GET / shows a form; GET /check?domain=D renders the verdict on the
// server with html/template (no JavaScript): the action with its
// Exchange-compatible code and TLS-RPT result type, a picture of the
// delivery path as inline SVG, every MX host with its TLSA records,
// TLS parameters and presented chain, the DNSSEC cause, MTA-STS and
// TLS-RPT status, and what the receiving admin should do. POST /check
// re-checks, bypassing every cache. GET and POST /v1/validate answer the
// protojson dane.v1.ValidateResponse the gRPC door would give.
//
// The package keeps only its transport: parsing, limits, rendering. It
// never connects anywhere itself: every probe goes through the engine,
// whose probe target policy applies. docs/WEB.md describes the page, its
// endpoints, headers and limits.
package web
