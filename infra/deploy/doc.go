// Package deploy holds the checks of the SAM template (template.yaml) and of
// lambda.mk: the AWS invariants of SPEC §10 (FIFO queues and their redrive,
// the orders table and its indexes, the webhook route, the function runtime,
// the cleanup schedule, least-privilege policies, the DLQ alarm) are asserted
// in template_test.go, so a later edit cannot break one silently. The sam CLI
// is not needed: the template is parsed with goformation.
package deploy
