// Package deploy holds the checks of the SAM template (template.yaml) and of
// lambda.mk: the AWS invariants of SPEC §10–13 (FIFO queues, their redrive,
// high-throughput mode and size limit, the playbook's orders table and its
// indexes, the webhook, admin, console and access routes, the function
// runtime and log groups, the cleanup schedule, least-privilege policies and
// the worker's explicit role, the DLQ and payment alarms and who they reach)
// are asserted in template_test.go, so a later edit cannot break one
// silently. The sam CLI is not needed: the template is parsed with
// goformation.
package deploy
