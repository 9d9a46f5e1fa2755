// Package workers consumes the events queue: a Dispatcher routes each message
// by its eventType attribute to a typed Handler (payment, refund, cleanup),
// retries transient failures with bounded backoff, dead-letters permanent ones
// and reports partial batch failures the way SQS FIFO and Lambda expect, so
// `orderflow serve` and the worker Lambda share one code path.
//
// Handlers never edit an order's status themselves: every change goes through
// domain.Update and the transition table in domain.Apply.
package workers
