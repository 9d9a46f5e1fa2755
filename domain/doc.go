// Package domain is the core of orderflow: the order aggregate, its status
// enums, the transition table, typed errors, the Stripe event envelope as the
// domain sees it, and the store and queue contracts that every adapter
// implements.
//
// It imports nothing from AWS, the Stripe SDK's network code, zap or SQL, so
// the rules here can be read and tested without any infrastructure.
package domain
