// Package workers consumes the events queue: a Dispatcher routes each message
// by its eventType attribute to a typed Handler (payment, refund, cleanup) and
// reports partial batch failures the way SQS FIFO and Lambda expect, so
// `orderflow serve` and the worker Lambda share one code path. What happens to
// a failure depends on its domain.Kind, in middleware around the handlers:
// transient errors are retried with backoff inside a budget the whole batch
// shares, conflicts at once, messages that cannot be applied yet go back to
// the queue with a growing delay, permanent ones to the dead-letter queue.
// The groups of a batch are worked on in parallel, each in order.
//
// Handlers never edit an order's status themselves: every change goes through
// domain.Update and the transition table in domain.Apply.
package workers
