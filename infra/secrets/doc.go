// Package secrets provides the Stripe secrets: the API secret key and the
// webhook signing secrets (several during a rotation). Values are never
// logged and never appear in errors.
package secrets
