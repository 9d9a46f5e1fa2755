// Package emulator starts the local AWS emulators that the adapters' tests and
// the end-to-end tests talk to over real HTTP: dynalite for DynamoDB and kumo
// for SQS and Secrets Manager. It is test support only; nothing in a deployed
// binary imports it.
package emulator
